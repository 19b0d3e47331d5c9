reg add HKCU\Software\Microsoft\Windows\CurrentVersion\Run /v helper /d "C:\Users\Public\h.exe" /f
