#!/usr/bin/env python3
import argparse, datetime

p = argparse.ArgumentParser()
p.add_argument("--cliente", required=True)
p.add_argument("--concepto", required=True)
p.add_argument("--importe", type=float, required=True)
p.add_argument("--iva", type=float, default=21)
p.add_argument("--irpf", type=float, default=0)
a = p.parse_args()

cuota_iva = round(a.importe * a.iva / 100, 2)
ret = round(a.importe * a.irpf / 100, 2)
total = round(a.importe + cuota_iva - ret, 2)
hoy = datetime.date.today().isoformat()
print(f"# Factura\n\nFecha: {hoy}\n\nCliente: {a.cliente}\n")
print("| Concepto | Base | IVA | IRPF | Total |")
print("|---|---|---|---|---|")
print(f"| {a.concepto} | {a.importe:.2f} € | {cuota_iva:.2f} € | -{ret:.2f} € | {total:.2f} € |")
