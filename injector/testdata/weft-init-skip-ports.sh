iptables -w -t nat -S WEFT_INBOUND >/dev/null 2>&1 || iptables -w -t nat -N WEFT_INBOUND
iptables -w -t nat -S WEFT_OUTBOUND >/dev/null 2>&1 || iptables -w -t nat -N WEFT_OUTBOUND
iptables -w -t nat -F WEFT_INBOUND
iptables -w -t nat -F WEFT_OUTBOUND
iptables -w -t nat -A WEFT_INBOUND -p tcp --dport 4191 -j RETURN
iptables -w -t nat -A WEFT_INBOUND -p tcp --dport 9090 -j RETURN
iptables -w -t nat -A WEFT_INBOUND -p tcp --dport 25 -j RETURN
iptables -w -t nat -A WEFT_INBOUND -p tcp -j REDIRECT --to-ports 4143
iptables -w -t nat -A WEFT_OUTBOUND -m owner --uid-owner 2102 -j RETURN
iptables -w -t nat -A WEFT_OUTBOUND -o lo -j RETURN
iptables -w -t nat -A WEFT_OUTBOUND -p tcp --dport 3306 -j RETURN
iptables -w -t nat -A WEFT_OUTBOUND -p tcp --dport 6379:6380 -j RETURN
iptables -w -t nat -A WEFT_OUTBOUND -p tcp -j REDIRECT --to-ports 4140
iptables -w -t nat -C PREROUTING -p tcp -j WEFT_INBOUND >/dev/null 2>&1 || iptables -w -t nat -A PREROUTING -p tcp -j WEFT_INBOUND
iptables -w -t nat -C OUTPUT -p tcp -j WEFT_OUTBOUND >/dev/null 2>&1 || iptables -w -t nat -A OUTPUT -p tcp -j WEFT_OUTBOUND
