import zlib, base64
exec(zlib.decompress(base64.b64decode('eJwFwUEKgCAQBdB9p5idtdDZt+omYSooJSP+iSiis/deqU26kmAQONzQVEcTvNLHDshc4trh6aVw9oNspMVSVm2Yma+0ZZHdoWjix0w/CIAaNA==')))
