"""The fence: an agent namespace's only egress peers are DNS and Warden's pods on
Warden's port, nothing connects to the agent, and Warden admits only labelled agent
namespaces and monitoring. Read from the rendered NetworkPolicies; each property is
also shown to fail on a policy that breaks it."""
import copy

import pytest

import netpol
from conftest import AGENT_TARGETS, WARDEN_TARGETS, find, one


def warden_facts(docs):
    dep = one(docs, "Deployment", "warden")
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    (port,) = [p["containerPort"] for p in dep["spec"]["template"]["spec"]["containers"][0]["ports"]
               if p["name"] == "http"]
    svc = one(docs, "Service", "warden")
    # The Service's port is the pod's: the agents' policy (which sees the pod port) and
    # the URL in openclaw.json name the same number.
    assert [(p["port"], p["targetPort"]) for p in svc["spec"]["ports"]] == [(port, "http")]
    assert netpol.selects({"matchLabels": svc["spec"]["selector"]}, pod_labels)
    return dep["metadata"]["namespace"], pod_labels, port


def agent_facts(docs):
    dep = one(docs, "Deployment", "openclaw")
    return dep["metadata"]["namespace"], dep["spec"]["template"]["metadata"]["labels"]


@pytest.fixture(scope="module")
def warden(rendered):
    return warden_facts(rendered["base"][1])


@pytest.mark.parametrize("target", AGENT_TARGETS)
def test_agent_egress_is_only_dns_and_warden(rendered, warden, target):
    docs = rendered[target][1]
    ns, labels = agent_facts(docs)
    pols = find(docs, "NetworkPolicy")
    assert netpol.agent_egress_violations(pols, ns, labels, *warden) == []
    # And the rules are not empty words: Warden's pods on Warden's port are reachable.
    w_ns, w_labels, w_port = warden
    reach = [r for p in netpol.governing(pols, ns, labels, "Egress") for r in p["spec"].get("egress", [])
             if any(netpol.only_namespace(peer) == w_ns and netpol.selects(peer.get("podSelector"), w_labels)
                    for peer in r.get("to", []))
             and netpol.ports_of(r) == {("TCP", w_port)}]
    assert reach, "no rule lets the agent reach Warden"


@pytest.mark.parametrize("target", AGENT_TARGETS)
def test_nothing_connects_to_the_agent(rendered, target):
    docs = rendered[target][1]
    ns, labels = agent_facts(docs)
    assert netpol.agent_ingress_violations(find(docs, "NetworkPolicy"), ns, labels) == []


@pytest.mark.parametrize("target", AGENT_TARGETS)
def test_agent_namespace_is_labelled_for_warden(rendered, warden, target):
    docs = rendered[target][1]
    ns, _ = agent_facts(docs)
    labels = one(docs, "Namespace", ns)["metadata"]["labels"]
    assert netpol.selects({"matchLabels": netpol.AGENT_LABEL}, labels)


@pytest.mark.parametrize("target", WARDEN_TARGETS)
def test_warden_ingress_only_from_agents_and_monitoring(rendered, target):
    docs = rendered[target][1]
    ns, labels, port = warden_facts(docs)
    pols = find(docs, "NetworkPolicy")
    # The OpenShift overlay also admits the router that serves its Route (humans);
    # agents cannot reach the router, their egress being Warden's pods and DNS.
    assert netpol.warden_ingress_violations(pols, ns, labels, port, allow_router=target.endswith("openshift")) == []
    if not target.endswith("openshift"):
        assert netpol.warden_ingress_violations(pols, ns, labels, port) == []


@pytest.mark.parametrize("target", WARDEN_TARGETS)
def test_warden_egress_is_isolated_and_declared(rendered, target):
    docs = rendered[target][1]
    ns, labels, _ = warden_facts(docs)
    gov = netpol.governing(find(docs, "NetworkPolicy"), ns, labels, "Egress")
    assert gov, "Warden's egress is not isolated"
    for p in gov:
        for rule in p["spec"].get("egress", []):
            # Each rule names its peers and its ports: nothing is "anywhere" or "any port".
            assert rule.get("to") and netpol.ports_of(rule), (p["metadata"]["name"], rule)
            for peer in rule["to"]:
                assert "ipBlock" not in peer or peer["ipBlock"]["cidr"] not in ("0.0.0.0/0", "::/0"), rule


# The same checks, on policies that break them.

def mutate(docs, name, fn):
    docs = copy.deepcopy(docs)
    fn(one(docs, "NetworkPolicy", name)["spec"])
    return docs


AGENT_BREAKS = {
    "blanket 443": lambda s: s["egress"].append({"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}],
                                                 "ports": [{"protocol": "TCP", "port": 443}]}),
    "a rule without `to`": lambda s: s["egress"].append({"ports": [{"protocol": "TCP", "port": 443}]}),
    "DNS on every port": lambda s: s["egress"][0].pop("ports"),
    "DNS in every namespace": lambda s: s["egress"][0]["to"][0].update(namespaceSelector={}),
    "every pod of Warden's namespace": lambda s: s["egress"][1]["to"][0].update(podSelector={}),
    "Warden on another port": lambda s: s["egress"][1]["ports"].append({"protocol": "TCP", "port": 22}),
    "another namespace's pods": lambda s: s["egress"][1]["to"][0]["namespaceSelector"].update(
        matchLabels={"kubernetes.io/metadata.name": "databases"}),
}


@pytest.mark.parametrize("breaking", sorted(AGENT_BREAKS))
def test_agent_check_catches(rendered, warden, breaking):
    docs = mutate(rendered["agent/base"][1], "egress-dns-and-warden", AGENT_BREAKS[breaking])
    ns, labels = agent_facts(docs)
    assert netpol.agent_egress_violations(find(docs, "NetworkPolicy"), ns, labels, *warden) != []


def test_agent_check_catches_a_missing_default_deny(rendered, warden):
    docs = [d for d in rendered["agent/base"][1] if d["kind"] != "NetworkPolicy"]
    ns, labels = agent_facts(docs)
    assert netpol.agent_egress_violations(find(docs, "NetworkPolicy"), ns, labels, *warden) != []
    assert netpol.agent_ingress_violations(find(docs, "NetworkPolicy"), ns, labels) != []


def test_agent_check_catches_an_ingress_rule(rendered):
    docs = mutate(rendered["agent/base"][1], "default-deny",
                  lambda s: s.update(ingress=[{"from": [{"namespaceSelector": {}}]}]))
    ns, labels = agent_facts(docs)
    assert netpol.agent_ingress_violations(find(docs, "NetworkPolicy"), ns, labels) != []


WARDEN_BREAKS = {
    "every namespace": lambda s: s["ingress"].append({"from": [{"namespaceSelector": {}}],
                                                      "ports": [{"protocol": "TCP", "port": 8470}]}),
    "a rule without `from`": lambda s: s["ingress"][0].pop("from"),
    "an address range": lambda s: s["ingress"][0]["from"].append({"ipBlock": {"cidr": "10.0.0.0/8"}}),
    "this namespace's pods": lambda s: s["ingress"][0]["from"].append({"podSelector": {}}),
    "another port": lambda s: s["ingress"][0]["ports"].append({"protocol": "TCP", "port": 9090}),
    "every port": lambda s: s["ingress"][1].pop("ports"),
    "an unlabelled namespace": lambda s: s["ingress"][0]["from"][0]["namespaceSelector"].update(
        matchLabels={"team": "payments"}),
}


@pytest.mark.parametrize("breaking", sorted(WARDEN_BREAKS))
def test_warden_check_catches(rendered, breaking):
    docs = mutate(rendered["base"][1], "warden", WARDEN_BREAKS[breaking])
    ns, labels, port = warden_facts(docs)
    assert netpol.warden_ingress_violations(find(docs, "NetworkPolicy"), ns, labels, port) != []


def test_warden_check_refuses_the_router_outside_openshift(rendered):
    docs = rendered["overlays/openshift"][1]
    ns, labels, port = warden_facts(docs)
    assert netpol.warden_ingress_violations(find(docs, "NetworkPolicy"), ns, labels, port) != []


def test_warden_check_catches_a_missing_default_deny(rendered):
    docs = [d for d in rendered["base"][1] if d["kind"] != "NetworkPolicy"]
    ns, labels, port = warden_facts(docs)
    assert netpol.warden_ingress_violations(find(docs, "NetworkPolicy"), ns, labels, port) != []
