"""What a set of rendered NetworkPolicies lets through, read the way the API defines it.

A pod is isolated for a direction once any policy selecting it lists that direction in
policyTypes; from then on only the union of those policies' rules is allowed. A rule
with no `to`/`from` admits every peer, a rule with no `ports` every port. A
namespaceSelector on `kubernetes.io/metadata.name` (set by the API server, immutable)
names exactly one namespace. These functions list what is allowed that should not be,
so a test asserts an empty list and the negative tests assert a non-empty one.
"""


def selects(selector, labels):
    """Does a LabelSelector select an object with these labels? ({} selects all.)"""
    selector = selector or {}
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        k, op, vals = e["key"], e["operator"], e.get("values") or []
        if op == "In" and labels.get(k) not in vals:
            return False
        if op == "NotIn" and k in labels and labels[k] in vals:
            return False
        if op == "Exists" and k not in labels:
            return False
        if op == "DoesNotExist" and k in labels:
            return False
    return True


def policy_types(p):
    spec = p.get("spec") or {}
    if "policyTypes" in spec:
        return set(spec["policyTypes"])
    return {"Ingress"} | ({"Egress"} if spec.get("egress") else set())


def governing(policies, namespace, pod_labels, direction):
    """The policies that isolate this pod for `direction` ("Ingress" or "Egress")."""
    return [
        p for p in policies
        if p["metadata"].get("namespace") == namespace
        and direction in policy_types(p)
        and selects(p["spec"].get("podSelector"), pod_labels)
    ]


def only_namespace(peer):
    """The one namespace a peer's namespaceSelector names, or None when it could be several."""
    ns = peer.get("namespaceSelector")
    if ns is None or ns.get("matchExpressions"):
        return None
    return (ns.get("matchLabels") or {}).get("kubernetes.io/metadata.name")


def ports_of(rule):
    """{(protocol, port)} of a rule, or None for "every port"."""
    ports = rule.get("ports")
    if not ports:
        return None
    return {(p.get("protocol", "TCP"), p.get("port")) for p in ports if "endPort" not in p} | (
        {("RANGE", p["port"]) for p in ports if "endPort" in p}
    )


DNS = [
    # (namespace, labels of its DNS pods, ports the pods listen on)
    ("kube-system", {"k8s-app": "kube-dns"}, {("UDP", 53), ("TCP", 53)}),
    ("openshift-dns", {"dns.operator.openshift.io/daemonset-dns": "default"}, {("UDP", 5353), ("TCP", 5353)}),
]


def _dns_peer(peer, ports):
    for ns, labels, allowed in DNS:
        pod_sel = peer.get("podSelector")
        if (only_namespace(peer) == ns and pod_sel and pod_sel.get("matchLabels")
                and selects(pod_sel, labels) and set(pod_sel["matchLabels"]) <= set(labels)
                and ports is not None and ports <= allowed):
            return True
    return False


def agent_egress_violations(policies, namespace, pod_labels, warden_ns, warden_pod_labels, warden_port):
    """Everything an agent pod may reach besides DNS and Warden's pods on Warden's port."""
    gov = governing(policies, namespace, pod_labels, "Egress")
    if not gov:
        return [f"egress of {namespace} pods is not isolated: no policy with Egress selects them"]
    out = []
    for p in gov:
        name = p["metadata"]["name"]
        for i, rule in enumerate(p["spec"].get("egress") or []):
            where = f"{name} egress[{i}]"
            ports = ports_of(rule)
            peers = rule.get("to")
            if not peers:
                out.append(f"{where}: no `to`, so every destination")
                continue
            for peer in peers:
                if "ipBlock" in peer:
                    out.append(f"{where}: ipBlock {peer['ipBlock'].get('cidr')}")
                elif _dns_peer(peer, ports):
                    pass
                elif (only_namespace(peer) == warden_ns and peer.get("podSelector")
                        and (peer["podSelector"].get("matchLabels") or {})
                        and not peer["podSelector"].get("matchExpressions")
                        and set(peer["podSelector"]["matchLabels"].items()) <= set(warden_pod_labels.items())
                        and ports == {("TCP", warden_port)}):
                    pass
                else:
                    out.append(f"{where}: peer {peer} on ports {sorted(ports) if ports else 'all'}")
    return out


def agent_ingress_violations(policies, namespace, pod_labels):
    """Anything that may connect to an agent pod (the template admits nothing)."""
    gov = governing(policies, namespace, pod_labels, "Ingress")
    if not gov:
        return [f"ingress of {namespace} pods is not isolated"]
    return [f"{p['metadata']['name']} ingress[{i}]: {rule}"
            for p in gov for i, rule in enumerate(p["spec"].get("ingress") or [])]


AGENT_LABEL = {"warden/agent-namespace": "true"}
MONITORING = ["monitoring", "openshift-user-workload-monitoring"]
OPENSHIFT_ROUTER = {"network.openshift.io/policy-group": "ingress"}


def warden_ingress_violations(policies, namespace, pod_labels, warden_port, allow_router=False):
    """Every way into Warden's pods but agent namespaces (by label) and monitoring, on Warden's port."""
    gov = governing(policies, namespace, pod_labels, "Ingress")
    if not gov:
        return [f"ingress of Warden's pods is not isolated"]
    out = []
    for p in gov:
        name = p["metadata"]["name"]
        for i, rule in enumerate(p["spec"].get("ingress") or []):
            where = f"{name} ingress[{i}]"
            if ports_of(rule) != {("TCP", warden_port)}:
                out.append(f"{where}: ports {rule.get('ports') or 'all'}")
            peers = rule.get("from")
            if not peers:
                out.append(f"{where}: no `from`, so every source")
                continue
            for peer in peers:
                # A podSelector beside the namespaceSelector only narrows it; one
                # without a namespaceSelector means this namespace's pods: refused.
                ns = peer.get("namespaceSelector")
                labels = (ns or {}).get("matchLabels") or {}
                ok = (
                    "ipBlock" not in peer and ns is not None and not ns.get("matchExpressions")
                    and (labels == AGENT_LABEL or only_namespace(peer) in MONITORING and len(labels) == 1
                         or allow_router and labels == OPENSHIFT_ROUTER)
                )
                if not ok:
                    out.append(f"{where}: peer {peer}")
    return out
