#!/usr/bin/env python3
"""Builds Warden's labelled secret-detection corpus (JSON lines).

Every positive is a credential in a real provider's format (prefix, length,
alphabet and, where the provider has one, checksum-free structure), placed in
a context where agents meet it: a `.env` file, a SKILL.md, a curl command, a
JSON or YAML config, Python code, a shell transcript. Every negative is a hard
negative: a placeholder or an environment reference where a key would go, a
UUID, a git SHA, a content digest, a base64 image, a public key or
certificate, a publishable (non-secret) key, a password-less connection
string.

The values are random (a fixed seed: the output is the same on every run)
and belong to no account. Some positives are of providers that Warden's
default rules do not name, so the corpus measures the generic rule too.

    python3 scripts/make-secret-corpus.py > crates/detect/corpus/secrets.jsonl

Each line: {"text", "label" (1 = holds a secret), "type", "context",
"secret" (positives: the secret value as it appears in text)}.
"""

import base64
import hashlib
import json
import random
import string

R = random.Random(20261121)
UP = string.ascii_uppercase
LOW = string.ascii_lowercase
DIG = string.digits
ALNUM = UP + LOW + DIG
B64 = ALNUM + "+/"
B64URL = ALNUM + "-_"
HEX = "0123456789abcdef"


def rnd(alphabet, n):
    return "".join(R.choice(alphabet) for _ in range(n))


def b64url(data):
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


# --- secret generators: real formats ------------------------------------------------

def aws_key_id():
    return R.choice(["AKIA", "ASIA"]) + rnd(UP + "234567", 16)


def aws_secret():
    return rnd(B64, 40)


def jwt():
    header = b64url(json.dumps({"alg": R.choice(["HS256", "RS256"]), "typ": "JWT"}).encode())
    payload = b64url(json.dumps({"sub": rnd(DIG, 8), "iat": 1763700000 + R.randrange(10**6),
                                 "scope": R.choice(["repo", "admin", "read write"])}).encode())
    return f"{header}.{payload}.{b64url(R.randbytes(32))}"


def pem(kind):
    body = base64.b64encode(R.randbytes(R.choice([600, 900, 1190]))).decode()
    lines = "\n".join(body[i:i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN {kind}-----\n{lines}\n-----END {kind}-----"


def password():
    return rnd(LOW, 4) + rnd(DIG, 2) + R.choice("!#%-_.") + rnd(ALNUM, 9)


SECRETS = {
    "aws-access-key-id": (aws_key_id, ["AWS_ACCESS_KEY_ID", "aws_access_key_id"]),
    "aws-secret-access-key": (aws_secret, ["AWS_SECRET_ACCESS_KEY", "aws_secret_access_key"]),
    "gcp-api-key": (lambda: "AIza" + rnd(B64URL, 35), ["GOOGLE_API_KEY", "GEMINI_API_KEY", "MAPS_API_KEY"]),
    "gcp-oauth-client-secret": (lambda: "GOCSPX-" + rnd(B64URL, 28), ["GOOGLE_CLIENT_SECRET", "client_secret"]),
    "github-pat": (lambda: R.choice(["ghp_", "gho_", "ghs_", "ghu_"]) + rnd(ALNUM, 36), ["GITHUB_TOKEN", "GH_TOKEN"]),
    "github-fine-grained-pat": (lambda: "github_pat_" + rnd(ALNUM, 22) + "_" + rnd(ALNUM, 59), ["GITHUB_TOKEN"]),
    "gitlab-token": (lambda: "glpat-" + rnd(B64URL, 20), ["GITLAB_TOKEN", "CI_JOB_TOKEN"]),
    "slack-token": (lambda: R.choice(["xoxb-", "xoxp-"]) + rnd(DIG, 12) + "-" + rnd(DIG, 13) + "-" + rnd(ALNUM, 24),
                    ["SLACK_BOT_TOKEN", "SLACK_TOKEN"]),
    "slack-webhook": (lambda: "https://hooks.slack.com/services/T" + rnd(UP + DIG, 10) + "/B" + rnd(UP + DIG, 10)
                      + "/" + rnd(ALNUM, 24), ["SLACK_WEBHOOK_URL"]),
    "stripe-key": (lambda: R.choice(["sk_live_", "rk_live_", "sk_test_"]) + rnd(ALNUM, R.choice([24, 99])),
                   ["STRIPE_SECRET_KEY", "STRIPE_API_KEY"]),
    "openai-project-key": (lambda: "sk-proj-" + rnd(B64URL, 74) + "T3BlbkFJ" + rnd(B64URL, 74), ["OPENAI_API_KEY"]),
    "openai-api-key": (lambda: "sk-" + rnd(ALNUM, 20) + "T3BlbkFJ" + rnd(ALNUM, 20), ["OPENAI_API_KEY"]),
    "anthropic-api-key": (lambda: "sk-ant-api03-" + rnd(B64URL, 93) + "AA", ["ANTHROPIC_API_KEY"]),
    "huggingface-token": (lambda: "hf_" + rnd(UP + LOW, 34), ["HF_TOKEN", "HUGGINGFACE_TOKEN"]),
    "npm-token": (lambda: "npm_" + rnd(ALNUM, 36), ["NPM_TOKEN"]),
    "pypi-token": (lambda: "pypi-AgEIcHlwaS5vcmc" + rnd(B64URL, 60), ["PYPI_TOKEN", "TWINE_PASSWORD"]),
    "sendgrid-api-key": (lambda: "SG." + rnd(B64URL, 22) + "." + rnd(B64URL, 43), ["SENDGRID_API_KEY"]),
    "twilio-api-key": (lambda: "SK" + rnd(HEX, 32), ["TWILIO_API_KEY"]),
    "azure-storage-key": (lambda: base64.b64encode(R.randbytes(64)).decode(), ["AZURE_STORAGE_KEY"]),
    "jwt": (jwt, ["AUTH_TOKEN", "ACCESS_TOKEN", "BEARER_TOKEN"]),
    "generic-api-key": (lambda: rnd(HEX, 32) if R.random() < 0.5 else rnd(ALNUM, 40),
                        ["API_KEY", "SECRET_KEY", "SERVICE_TOKEN", "DD_API_KEY", "MAILGUN_API_KEY"]),
    # Providers without a named default rule: the generic rule's job.
    "digitalocean-token": (lambda: "dop_v1_" + rnd(HEX, 64), ["DIGITALOCEAN_TOKEN"]),
    "shopify-token": (lambda: "shpat_" + rnd(HEX, 32), ["SHOPIFY_ACCESS_TOKEN"]),
    "telegram-bot-token": (lambda: rnd(DIG, 10) + ":AA" + rnd(B64URL, 33), ["TELEGRAM_BOT_TOKEN"]),
}


def place(kind, value, names):
    """A realistic text around `value`; returns (text, context)."""
    name = R.choice(names)
    ctx = R.choice(["env", "skill", "curl", "json", "yaml", "python", "shell"])
    if kind == "slack-webhook":
        ctx = R.choice(["env", "curl", "skill"])
        if ctx == "curl":
            return (f"curl -X POST -H 'Content-type: application/json' --data '{{\"text\":\"deploy done\"}}' {value}",
                    ctx)
    if kind == "azure-storage-key":
        conn = (f"DefaultEndpointsProtocol=https;AccountName={rnd(LOW, 10)};AccountKey={value};"
                "EndpointSuffix=core.windows.net")
        return (f"AZURE_STORAGE_CONNECTION_STRING=\"{conn}\"", "env")
    if ctx == "env":
        pre = R.choice(["# production\n", "# copied from 1password\n", "NODE_ENV=production\nPORT=8080\n", ""])
        return (f"{pre}{name}={value}\nLOG_LEVEL=info\n", ctx)
    if ctx == "skill":
        return (f"---\nname: {rnd(LOW, 6)}-helper\ndescription: Talks to the API for the team.\n---\n\n"
                f"# Setup\n\nThe key below is the shared team key; use it for every request.\n\n"
                f"```bash\nexport {name}=\"{value}\"\n```\n\nThen run the sync script.\n", ctx)
    if ctx == "curl":
        if kind in ("stripe-key",):
            return (f"curl https://api.stripe.com/v1/charges -u {value}: -d amount=2000 -d currency=usd", ctx)
        header = R.choice([f"Authorization: Bearer {value}", f"Authorization: token {value}",
                           f"X-API-Key: {value}", f"api-key: {value}"])
        return (f"curl -sS -H \"{header}\" https://api.example.net/v2/{rnd(LOW, 5)}?limit=50", ctx)
    if ctx == "json":
        key = R.choice(["apiKey", "api_key", "token", "secret", "accessToken"])
        return (json.dumps({"service": rnd(LOW, 7), key: value, "timeout": 30}, indent=2), ctx)
    if ctx == "yaml":
        key = R.choice(["api_key", "token", "secret_key", "password"])
        return (f"integrations:\n  {rnd(LOW, 6)}:\n    enabled: true\n    {key}: {value}\n", ctx)
    if ctx == "python":
        return (f"import os\n\nclient = Client(\n    api_key=\"{value}\",\n    timeout=20,\n)\n", ctx)
    return (f"$ export {name}='{value}'\n$ ./deploy.sh --env prod\nDeploying... done\n", "shell")


def positives():
    out = []
    for kind, (gen, names) in SECRETS.items():
        for _ in range(40):
            value = gen()
            text, ctx = place(kind, value, names)
            out.append({"text": text, "label": 1, "type": kind, "context": ctx, "secret": value})
    # Private keys and connection strings carry their own context.
    for kind in ["RSA PRIVATE KEY", "OPENSSH PRIVATE KEY", "EC PRIVATE KEY", "PRIVATE KEY"]:
        for _ in range(10):
            value = pem(kind)
            ctx = R.choice(["skill", "file", "json"])
            if ctx == "skill":
                text = f"## Deploy key\n\nSave this as ~/.ssh/deploy and chmod 600:\n\n```\n{value}\n```\n"
            elif ctx == "json":
                text = json.dumps({"type": "service_account", "private_key": value + "\n"})
            else:
                text = value + "\n"
            out.append({"text": text, "label": 1, "type": "private-key", "context": ctx, "secret": value})
    for _ in range(40):
        scheme = R.choice(["postgres", "postgresql", "mysql", "mongodb+srv", "redis", "amqp"])
        pw = password()
        user = R.choice(["app", "admin", "svc_" + rnd(LOW, 4), "root"])
        host = R.choice(["db.internal", "10.0.3.17", f"{rnd(LOW, 8)}.rds.amazonaws.com", "cluster0.mongodb.net"])
        url = f"{scheme}://{user}:{pw}@{host}:{R.choice([5432, 3306, 6379, 5672, 27017])}/{rnd(LOW, 5)}"
        ctx = R.choice(["env", "yaml", "python"])
        text = {"env": f"DATABASE_URL={url}\n", "yaml": f"database:\n  url: \"{url}\"\n",
                "python": f"engine = create_engine(\"{url}\")\n"}[ctx]
        out.append({"text": text, "label": 1, "type": "connection-string-password", "context": ctx, "secret": pw})
    return out


# --- hard negatives -------------------------------------------------------------------

def uuid():
    h = rnd(HEX, 32)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{R.choice('89ab')}{h[17:20]}-{h[20:]}"


def sha1():
    return hashlib.sha1(R.randbytes(20)).hexdigest()


def png_b64():
    return base64.b64encode(b"\x89PNG\r\n\x1a\n" + R.randbytes(R.choice([120, 300, 900]))).decode()


def negatives():
    env_names = [n for _, (_, names) in SECRETS.items() for n in names]
    gens = [
        ("placeholder", lambda: f"{R.choice(env_names)}={R.choice(['sk-...', 'YOUR_API_KEY', 'your-api-key-here', '<your-token>', 'changeme-in-prod', 'REPLACE_ME', '********', 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', 'TODO'])}\n"),
        ("placeholder", lambda: f"export GITHUB_TOKEN=ghp_{'x' * 36}\n# replace the x's with your token"),
        ("placeholder", lambda: f"STRIPE_SECRET_KEY=sk_live_{'X' * 24}"),
        ("placeholder", lambda: "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\nAWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        ("placeholder", lambda: "client = OpenAI(api_key=\"sk-...\")  # set your key"),
        ("env-reference", lambda: f"curl -H \"Authorization: Bearer ${R.choice(env_names)}\" https://api.example.net/v1/items"),
        ("env-reference", lambda: f"api_key = os.environ[\"{R.choice(env_names)}\"]"),
        ("env-reference", lambda: f"      - name: publish\n        env:\n          NPM_TOKEN: ${{{{ secrets.NPM_TOKEN }}}}\n"),
        ("env-reference", lambda: f"password: \"${{DB_PASSWORD}}\"\napi_key: \"{{{{ .Values.apiKey }}}}\""),
        ("env-reference", lambda: "export GITHUB_TOKEN=$(gh auth token)"),
        ("uuid", lambda: f"request_id: {uuid()}\ntrace_id: {uuid()}"),
        ("uuid", lambda: json.dumps({"id": uuid(), "owner": uuid(), "status": "active"})),
        ("uuid", lambda: f"curl -X POST -H \"Idempotency-Key: {uuid()}\" https://api.example.net/v1/orders"),
        ("uuid", lambda: f"session {uuid()} resumed; tenant key_id={uuid()}"),
        ("git-sha", lambda: f"commit {sha1()}\nAuthor: Dev <dev@example.com>\n\n    Fix flaky test"),
        ("git-sha", lambda: f"git checkout {sha1()} && cargo test"),
        ("git-sha", lambda: json.dumps({"sha": sha1(), "ref": "refs/heads/main", "tree": {"sha": sha1()}})),
        ("git-sha", lambda: f"uses: actions/checkout@{sha1()} # v4.2.2"),
        ("digest", lambda: f"image: ghcr.io/acme/api@sha256:{hashlib.sha256(R.randbytes(8)).hexdigest()}"),
        ("digest", lambda: f"\"integrity\": \"sha512-{base64.b64encode(hashlib.sha512(R.randbytes(8)).digest()).decode()}\""),
        ("digest", lambda: f"{hashlib.sha256(R.randbytes(8)).hexdigest()}  warden-linux-x64.tar.gz"),
        ("digest", lambda: f"ETag: \"{hashlib.md5(R.randbytes(8)).hexdigest()}\""),
        ("base64-image", lambda: f"![diagram](data:image/png;base64,{png_b64()})"),
        ("base64-image", lambda: f"<img alt=\"logo\" src=\"data:image/png;base64,{png_b64()}\">"),
        ("base64-image", lambda: json.dumps({"type": "image", "mimeType": "image/png", "data": png_b64()})),
        ("public-key", lambda: f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{rnd(B64, 43)} ci@build"),
        ("public-key", lambda: pem("PUBLIC KEY")),
        ("public-key", lambda: pem("CERTIFICATE")),
        ("publishable-key", lambda: f"NEXT_PUBLIC_STRIPE_KEY=pk_live_{rnd(ALNUM, 24)}"),
        ("connection-string", lambda: f"DATABASE_URL=postgres://{R.choice(['localhost', 'db'])}:5432/{rnd(LOW, 5)}"),
        ("connection-string", lambda: f"REDIS_URL=redis://redis:6379/0\nDATABASE_URL=postgres://app:${{DB_PASSWORD}}@db/app"),
        ("prose", lambda: "Rotate the API key every 90 days and never paste the token into chat; the secret lives in Vault."),
    ]
    out = []
    per = 1000 // len(gens) + 1
    for kind, gen in gens:
        for _ in range(per):
            out.append({"text": gen(), "label": 0, "type": kind, "context": "hard-negative"})
    return out


def main():
    rows = positives() + negatives()
    R.shuffle(rows)
    for r in rows:
        print(json.dumps(r, ensure_ascii=False))


if __name__ == "__main__":
    main()
