"""Exercise the compute API with Tempest's service clients, which check
every answer against Tempest's JSON schemas for the microversion asked.
Run by TestTempestClientSchemas: AUTH_URL names the (stand-in) Keystone,
PROJECT the admin's project; prints one line per microversion and exits 1
on the first mismatch."""
import os
import sys
import traceback

from tempest.lib import auth, exceptions
from tempest.lib.services.compute import (
    availability_zone_client, base_compute_client, flavors_client, keypairs_client, limits_client,
    quota_classes_client, quotas_client, versions_client)

PUBLIC_KEY = os.environ["PUBLIC_KEY"]
PROJECT = os.environ["PROJECT"]
creds = auth.KeystoneV3Credentials(username="admin", password="secret", project_name="admin",
                                   user_domain_name="Default", project_domain_name="Default")
provider = auth.KeystoneV3AuthProvider(creds, os.environ["AUTH_URL"])
kw = dict(auth_provider=provider, service="compute", region="RegionOne")
flavors = flavors_client.FlavorsClient(**kw)
keypairs = keypairs_client.KeyPairsClient(**kw)
quotas = quotas_client.QuotasClient(**kw)
classes = quota_classes_client.QuotaClassesClient(**kw)
limits = limits_client.LimitsClient(**kw)
zones = availability_zone_client.AvailabilityZoneClient(**kw)
versions = versions_client.VersionsClient(**kw)


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

    # flavors
    args = dict(name="f-" + n, ram=512, vcpus=1, disk=1, id="f-" + n, swap=0, ephemeral=1, rxtx_factor=1.5)
    if v >= (2, 55):
        args["description"] = "d"
    f = flavors.create_flavor(**args)["flavor"]
    flavors.show_flavor(f["id"])
    flavors.list_flavors()
    flavors.list_flavors(detail=True)
    flavors.list_flavors(detail=True, limit=1)
    if v >= (2, 55):
        flavors.update_flavor(f["id"], description="e")
    flavors.set_flavor_extra_spec(f["id"], **{"hw:numa_nodes": "1", "hw:cpu_policy": "shared"})
    flavors.list_flavor_extra_specs(f["id"])
    flavors.show_flavor_extra_spec(f["id"], "hw:numa_nodes")
    flavors.update_flavor_extra_spec(f["id"], "hw:numa_nodes", **{"hw:numa_nodes": "2"})
    flavors.unset_flavor_extra_spec(f["id"], "hw:numa_nodes")
    expect(exceptions.NotFound, flavors.show_flavor_extra_spec, f["id"], "hw:numa_nodes")
    flavors.show_flavor(f["id"])
    p = flavors.create_flavor(name="p-" + n, ram=64, vcpus=1, disk=0, id="p-" + n,
                              **{"os-flavor-access:is_public": False})["flavor"]
    flavors.add_flavor_access(p["id"], PROJECT)
    flavors.list_flavor_access(p["id"])
    expect(exceptions.Conflict, flavors.add_flavor_access, p["id"], PROJECT)
    flavors.remove_flavor_access(p["id"], PROJECT)
    flavors.delete_flavor(p["id"])
    flavors.delete_flavor(f["id"])
    expect(exceptions.NotFound, flavors.show_flavor, f["id"])

    # keypairs
    kargs = dict(name="k-" + n)
    if v >= (2, 92):
        kargs["public_key"] = PUBLIC_KEY
    keypairs.create_keypair(**kargs)
    keypairs.create_keypair(name="i-" + n, public_key=PUBLIC_KEY)
    keypairs.show_keypair("k-" + n)
    keypairs.list_keypairs()  # (Tempest has no schema with keypairs_links: no limit here)
    keypairs.delete_keypair("k-" + n)
    keypairs.delete_keypair("i-" + n)
    expect(exceptions.NotFound, keypairs.show_keypair, "k-" + n)
    if (2, 2) <= v < (2, 92):
        keypairs.create_keypair(name="x-" + n, type="x509")
        keypairs.delete_keypair("x-" + n)

    # quotas, limits, zones
    quotas.show_quota_set(PROJECT)
    quotas.show_quota_set(PROJECT, user_id="u-admin")
    quotas.show_quota_set(PROJECT, detail=True)
    quotas.show_default_quota_set(PROJECT)
    quotas.update_quota_set(PROJECT, cores=30, force=True)
    quotas.delete_quota_set(PROJECT)
    classes.show_quota_class_set("default")
    classes.update_quota_class_set("default", instances=12)
    limits.show_limits()
    zones.list_availability_zones()
    zones.list_availability_zones(detail=True)
    print("ok", mv)


try:
    base_compute_client.COMPUTE_MICROVERSION = None
    vs = versions.list_versions()["versions"]
    for ver in vs:
        self_link = [l["href"] for l in ver["links"] if l["rel"] == "self"][0]
        versions.get_version_by_url(self_link)
    for mv in [None, "2.2", "2.10", "2.35", "2.36", "2.47", "2.50", "2.55", "2.57", "2.61", "2.75", "2.86",
               "2.91", "2.92", "2.96"]:
        run(mv)
except Exception:
    traceback.print_exc()
    sys.exit(1)
