$targets = @("$env:TEMP", "C:\Windows\Temp", "C:\Windows\SoftwareDistribution\Download",
             "$env:LOCALAPPDATA\Microsoft\Edge\User Data\Default\Cache",
             "$env:LOCALAPPDATA\Google\Chrome\User Data\Default\Cache")
foreach ($t in $targets) {
    if (Test-Path $t) {
        $s = (Get-ChildItem $t -Recurse -Force -ErrorAction SilentlyContinue | Measure-Object Length -Sum).Sum
        "{0,-70} {1,8:N1} MB" -f $t, ($s / 1MB)
    }
}
Get-ChildItem "$env:USERPROFILE\Downloads","$env:USERPROFILE\Desktop","$env:USERPROFILE\Videos" -Recurse -File -ErrorAction SilentlyContinue |
    Sort-Object Length -Descending | Select-Object -First 20 FullName, @{n='MB';e={[math]::Round($_.Length/1MB,1)}}
