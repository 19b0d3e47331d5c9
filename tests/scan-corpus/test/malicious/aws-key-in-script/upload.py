import boto3
s3 = boto3.client('s3', aws_access_key_id='AKIAZ7VRSQ4MNXK2LJ5H', aws_secret_access_key='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')
