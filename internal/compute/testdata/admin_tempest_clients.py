"""Exercise os-services, os-hypervisors, os-aggregates, os-server-groups
and os-simple-tenant-usage with Tempest's service clients, which check
every answer against Tempest's JSON schemas for the microversion asked.
Run by TestTempestAdminClientSchemas: AUTH_URL names the (stand-in)
Keystone, PROJECT the admin's project; hosts c1 (holding a server) and
c2 are registered compute hosts. Prints one line per microversion and
exits 1 on the first mismatch."""
import datetime
import os
import sys
import traceback

from tempest.lib import auth, exceptions
from tempest.lib.services.compute import (
    aggregates_client, base_compute_client, hypervisor_client, server_groups_client, services_client,
    tenant_usages_client)

PROJECT = os.environ["PROJECT"]
creds = auth.KeystoneV3Credentials(username="admin", password="secret", project_name="admin",
                                   user_domain_name="Default", project_domain_name="Default")
provider = auth.KeystoneV3AuthProvider(creds, os.environ["AUTH_URL"])
kw = dict(auth_provider=provider, service="compute", region="RegionOne")
services = services_client.ServicesClient(**kw)
hypervisors = hypervisor_client.HypervisorClient(**kw)
aggregates = aggregates_client.AggregatesClient(**kw)
groups = server_groups_client.ServerGroupsClient(**kw)
usages = tenant_usages_client.TenantUsagesClient(**kw)


def expect(exc, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except exc:
        return
    raise AssertionError("%s did not raise %s" % (fn.__name__, exc.__name__))


def run(mv):
    base_compute_client.COMPUTE_MICROVERSION = mv
    n = (mv or "2.0").replace(".", "-")
    v = tuple(int(x) for x in (mv or "2.1").split("."))

    # services
    svcs = services.list_services()["services"]
    assert len(svcs) == 3, svcs
    services.list_services(host="c2", binary="nova-compute")
    if v < (2, 53):
        services.disable_service(host="c2", binary="nova-compute")
        services.disable_log_reason(host="c2", binary="nova-compute", disabled_reason="r")
        services.enable_service(host="c2", binary="nova-compute")
        if v >= (2, 11):
            services.update_forced_down(host="c2", binary="nova-compute", forced_down=True)
            services.update_forced_down(host="c2", binary="nova-compute", forced_down=False)
    else:
        c2 = [s for s in svcs if s["host"] == "c2"][0]["id"]
        services.update_service(c2, status="disabled", disabled_reason="r")
        services.update_service(c2, status="enabled")
        services.update_service(c2, forced_down=True)
        services.update_service(c2, forced_down=False)
        expect(exceptions.NotFound, services.update_service, "2f9c4b6e-0a3c-4d8f-9b1e-6c7d8e9f0a1b", status="enabled")

    # hypervisors
    hyps = hypervisors.list_hypervisors()["hypervisors"]
    assert len(hyps) == 2, hyps
    if v < (2, 88):
        hypervisors.list_hypervisors(detail=True)
        hypervisors.show_hypervisor(hyps[0]["id"])
        hypervisors.show_hypervisor_statistics()
        expect(exceptions.NotImplemented, hypervisors.show_hypervisor_uptime, hyps[0]["id"])
    if v >= (2, 33):
        hypervisors.list_hypervisors(limit=1)
    if v < (2, 53):
        hypervisors.search_hypervisor("c1")
        servers = hypervisors.list_servers_on_hypervisor("c1")["hypervisors"]
        assert len(servers[0]["servers"]) == 1, servers
    elif v < (2, 88):
        hypervisors.list_hypervisors(detail=True, with_servers=True)
        hypervisors.show_hypervisor(hyps[0]["id"], with_servers=True)

    # aggregates
    a = aggregates.create_aggregate(name="a-" + n, availability_zone="z-" + n)["aggregate"]
    aggregates.list_aggregates()
    aggregates.show_aggregate(a["id"])
    aggregates.update_aggregate(a["id"], name="b-" + n)
    aggregates.set_metadata(a["id"], metadata={"k": "v"})
    aggregates.add_host(a["id"], host="c2")
    expect(exceptions.Conflict, aggregates.add_host, a["id"], host="c2")
    aggregates.remove_host(a["id"], host="c2")
    expect(exceptions.NotFound, aggregates.add_host, a["id"], host="nohost")
    aggregates.delete_aggregate(a["id"])
    expect(exceptions.NotFound, aggregates.show_aggregate, a["id"])

    # server groups
    if v >= (2, 64):
        g = groups.create_server_group(name="g-" + n, policy="anti-affinity",
                                       rules={"max_server_per_host": 2})["server_group"]
    else:
        g = groups.create_server_group(name="g-" + n, policies=["affinity"])["server_group"]
    groups.list_server_groups()
    groups.show_server_group(g["id"])
    groups.delete_server_group(g["id"])
    expect(exceptions.NotFound, groups.show_server_group, g["id"])

    # tenant usages
    now = datetime.datetime.utcnow()
    period = dict(start=(now - datetime.timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%S.%f"),
                  end=now.strftime("%Y-%m-%dT%H:%M:%S.%f"))
    got = usages.list_tenant_usages(detailed=1, **period)["tenant_usages"]
    assert len(got) == 1, got
    usages.list_tenant_usages(**period)
    usages.show_tenant_usage(got[0]["tenant_id"], **period)
    print("ok", mv)


try:
    for mv in [None, "2.11", "2.13", "2.28", "2.33", "2.40", "2.41", "2.53", "2.64", "2.75", "2.88", "2.96"]:
        run(mv)
except Exception:
    traceback.print_exc()
    sys.exit(1)
