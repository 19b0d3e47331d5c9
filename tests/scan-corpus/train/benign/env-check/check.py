import os, sys
missing = [k for k in ("OPENAI_API_KEY", "DATABASE_URL") if not os.environ.get(k)]
if missing:
    print("missing:", ", ".join(missing))
    sys.exit(1)
print("all set")
