#!/usr/bin/env python3
import argparse, pathlib
import pandas as pd

REGRAS = {
    "Mercado": ["supermercado", "hortifruti", "atacad"],
    "Transporte": ["uber", "99app", "posto", "estaciona"],
    "Moradia": ["aluguel", "condom", "enel", "sabesp"],
    "Lazer": ["cinema", "netflix", "spotify", "restaurante"],
    "Saúde": ["farm", "drogaria", "clinica"],
}

def categoria(desc):
    d = str(desc).lower()
    for cat, chaves in REGRAS.items():
        if any(c in d for c in chaves):
            return cat
    return "? sem categoria"

ap = argparse.ArgumentParser()
ap.add_argument("pasta")
ap.add_argument("--saida", required=True)
a = ap.parse_args()
frames = [pd.read_csv(f, sep=None, engine="python") for f in pathlib.Path(a.pasta).glob("*.csv")]
df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["data", "descricao", "valor"])
df["categoria"] = df["descricao"].map(categoria)
df.to_excel(a.saida, index=False)
print(df.groupby("categoria")["valor"].sum())
