"""Pod networking through the daemon (the parts that exist without pods)."""

import json
import os
import shutil


def _network_ready(client):
    conds = {x.type: x for x in client.rt("Status").status.conditions}
    return conds["NetworkReady"]


def test_network_ready_follows_the_config_dir(daemon_factory, workdir):
    # The dir does not exist at start-up; it appears, gets a config, loses it,
    # and is removed and re-created: readiness follows every step without a
    # restart (the module watches the dir instead of polling a cache).
    cni = os.path.join(workdir, "cni-later")
    d = daemon_factory(config={"cni_conf_dir": cni, "cni_bin_dirs": ["/usr/lib/cni"]})
    c = d.client()
    assert _network_ready(c).status is False

    conf = os.path.join(cni, "10-t.conflist")
    os.makedirs(cni)
    with open(conf, "w") as f:
        json.dump({"cniVersion": "1.0.0", "name": "t", "plugins": [{"type": "bridge"}]}, f)
    assert _network_ready(c).status is True

    os.unlink(conf)
    st = _network_ready(c)
    assert st.status is False and cni in st.message

    shutil.rmtree(cni)
    assert _network_ready(c).status is False
    os.makedirs(cni)
    with open(conf, "w") as f:
        json.dump({"cniVersion": "1.0.0", "name": "t", "plugins": [{"type": "bridge"}]}, f)
    assert _network_ready(c).status is True


def test_network_ready_ignores_config_with_missing_plugin(daemon_factory, workdir):
    cni = os.path.join(workdir, "cni")
    os.makedirs(cni)
    with open(os.path.join(cni, "10-bad.conflist"), "w") as f:
        json.dump({"cniVersion": "1.0.0", "name": "t",
                   "plugins": [{"type": "no-such-plugin-uvmd"}]}, f)
    d = daemon_factory(config={"cni_conf_dir": cni, "cni_bin_dirs": ["/usr/lib/cni"]})
    assert _network_ready(d.client()).status is False
