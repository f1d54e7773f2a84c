"""Settings: the YAML file, ECHODESK_* overrides, and clear errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from echodesk.config import RelaySettings, Settings, load
from echodesk.errors import ConfigError


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "echodesk.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_a_file(tmp_path: Path) -> None:
    config = _write(tmp_path, "")
    settings = load(None, {"ECHODESK_CONFIG": str(config)})
    beside = config.parent  # the rules and the saved replies are beside the settings
    assert settings == Settings(
        rules_file=beside / "rules.yaml", replies_file=beside / "replies.yaml"
    )
    assert settings.effective_database_url().startswith("sqlite:///")
    assert settings.effective_database_url().endswith("echodesk-data/echodesk.db")


def test_a_missing_default_file_is_fine_but_a_named_one_is_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert load(None, {}).ticket_prefix == "TKT"
    with pytest.raises(ConfigError, match="cannot read settings file"):
        load(tmp_path / "nope.yaml", {})


def test_file_values_and_environment_overrides(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "support_address: help@acme.test\nticket_prefix: ACME\n"
        "domains: [acme.test, acme.example]\nworker_batch: 7\n",
    )
    env = {
        "ECHODESK_TICKET_PREFIX": "HD",
        "ECHODESK_DOMAINS": "a.test, b.test",
        "ECHODESK_DATA_DIR": str(tmp_path / "d"),
    }
    settings = load(path, env)
    assert settings.support_address == "help@acme.test"
    assert settings.ticket_prefix == "HD"
    assert settings.domains == ("a.test", "b.test")
    assert settings.worker_batch == 7
    assert settings.data_dir == tmp_path / "d"


def test_database_url_from_the_platform_and_from_echodesk(tmp_path: Path) -> None:
    path = _write(tmp_path, "")
    assert load(path, {"DATABASE_URL": "postgres://u@h/d"}).database_url == "postgres://u@h/d"
    both = {"DATABASE_URL": "postgres://u@h/d", "ECHODESK_DATABASE_URL": "postgresql://x@y/z"}
    assert load(path, both).database_url == "postgresql://x@y/z"


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("colour: blue\n", {}, "unknown key 'colour'"),
        ("worker_batch: many\n", {}, "setting 'worker_batch'"),
        ("", {"ECHODESK_WORKER_BATCH": "1.5"}, "ECHODESK_WORKER_BATCH"),
        ("domains: {a: 1}\n", {}, "setting 'domains'"),
        ("support_address: nobody\n", {}, "setting 'support_address'"),
        ("closed_reply: delete\n", {}, "setting 'closed_reply'"),
        ("ticket_prefix: 'T K'\n", {}, "setting 'ticket_prefix'"),
        ("worker_batch: 0\n", {}, "setting 'worker_batch'"),
        ("- just\n- a list\n", {}, "expected a mapping"),
        ("support_address: [unclosed\n", {}, r"echodesk.yaml:\d+:\d+"),
        ("a: b: c\n", {}, r"echodesk.yaml:1:\d+"),
    ],
)
def test_bad_settings_name_the_key_or_line(
    tmp_path: Path, text: str, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load(_write(tmp_path, text), env)


def test_a_settings_file_that_is_not_text(tmp_path: Path) -> None:
    path = tmp_path / "echodesk.yaml"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load(path, {})


def test_ticket_labels() -> None:
    s = Settings(ticket_prefix="TKT", ticket_number_width=4)
    assert s.ticket_label(42) == "TKT-0042"
    assert s.ticket_label(123456) == "TKT-123456"
    assert s.parse_ticket_label("TKT-0042") == 42
    assert s.parse_ticket_label("tkt-42") == 42
    assert s.parse_ticket_label("42") == 42
    assert s.parse_ticket_label("ABC-42") is None
    assert s.parse_ticket_label("TKT-x") is None


def test_imap_accounts(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
imap:
  - name: support
    host: imap.example.com
    user: support@example.com
    password_env: SUPPORT_IMAP_PASSWORD
    processed_folder: Echo/Processed
  - name: sales
    host: 127.0.0.1
    port: 10143
    tls: false
    user: sales
    password: secret
""",
    )
    settings = load(path, {"SUPPORT_IMAP_PASSWORD": "hunter2"})
    support, sales = settings.imap
    assert (support.port, support.tls, support.folder) == (993, True, "INBOX")
    assert support.password == "hunter2" and "hunter2" not in repr(support)
    assert support.processed_folder == "Echo/Processed"
    assert (sales.port, sales.tls, sales.password) == (10143, False, "secret")


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("imap:\n  - {name: a, hots: x, user: u}\n", {}, r"imap\[0\]' .*unknown key 'hots'"),
        ("imap:\n  - {name: a, user: u}\n", {}, r"imap\[0\].host' .*required"),
        ("imap:\n  - {name: a, host: h, user: u, port: many}\n", {}, r"imap\[0\].port"),
        ("imap:\n  - {name: a, host: h, user: u, password_env: NOPE}\n", {}, "NOPE"),
        ("imap:\n  - {name: a, host: h, user: u}\n  - {name: a, host: h, user: u}\n", {}, "unique"),
        ("imap: yes\n", {}, "list of accounts"),
        ("smtp_listen: localhost\n", {}, "HOST:PORT"),
        ("smtp_tls_cert: /x.pem\n", {}, "go together"),
    ],
)
def test_bad_imap_and_smtp_settings(
    tmp_path: Path, text: str, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load(_write(tmp_path, text), env)


def test_imap_accounts_from_the_environment(tmp_path: Path) -> None:
    env = {"ECHODESK_IMAP": '[{"name": "x", "host": "h", "user": "u", "password": "p"}]'}
    assert load(_write(tmp_path, ""), env).imap[0].host == "h"


def test_imap_starttls_alone_means_a_plain_connection_upgraded(tmp_path: Path) -> None:
    path = _write(tmp_path, "imap:\n  - {name: a, host: h, user: u, password: p, starttls: true}\n")
    account = load(path, {}).imap[0]
    assert (account.tls, account.starttls, account.port) == (False, True, 143)


def test_relay_settings(tmp_path: Path) -> None:
    cfg = tmp_path / "echodesk.yaml"
    cfg.write_text(
        "relay:\n  host: smtp.example.com\n  starttls: true\n  user: apikey\n"
        "  password_env: ECHODESK_RELAY_PASSWORD\n"
    )
    s = load(cfg, {"ECHODESK_RELAY_PASSWORD": "pw"})
    assert s.relay is not None
    assert (s.relay.host, s.relay.effective_port, s.relay.password) == (
        "smtp.example.com",
        587,
        "pw",
    )
    assert "pw" not in repr(s.relay)
    assert load(None, {"ECHODESK_RELAY": '{"host": "127.0.0.1", "port": 2526}'}).relay == (
        RelaySettings(host="127.0.0.1", port=2526)
    )
    assert load(None, {"ECHODESK_RELAY": "host: mx.test\ntls: true"}).relay == RelaySettings(
        host="mx.test", tls=True
    )
    assert load(None, {}).relay is None


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("relay:\n  port: 25\n", {}, "relay.host"),
        ("relay:\n  host: x\n  hots: y\n", {}, "unknown key 'hots'"),
        ("relay:\n  host: x\n  tls: true\n  starttls: true\n", {}, "exclude each other"),
        ("relay:\n  host: mx.example.com\n  user: u\n  password: p\n", {}, "clear text"),
        ("relay:\n  host: x\n  password_env: NOPE\n", {}, "NOPE"),
        ("relay: [1, 2]\n", {}, "expected a mapping"),
        ("status_after_reply: later\n", {}, "status_after_reply"),
        ("autoclose_days: -1\n", {}, "autoclose_days"),
        ("bounce_local_part: 'a b'\n", {}, "bounce_local_part"),
    ],
)
def test_bad_outbound_settings_name_the_key(
    tmp_path: Path, text: str, env: dict[str, str], message: str
) -> None:
    cfg = tmp_path / "echodesk.yaml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load(cfg, env)


def test_rules_file_is_found_beside_the_settings_file(tmp_path: Path) -> None:
    cfg = tmp_path / "etc" / "echodesk.yaml"
    cfg.parent.mkdir()
    cfg.write_text("rules_file: routing/rules.yaml\ntimezone: Europe/Berlin\n")
    s = load(cfg, {})
    assert s.rules_file == tmp_path / "etc" / "routing" / "rules.yaml"
    assert load(cfg, {"ECHODESK_RULES_FILE": "/srv/rules.yaml"}).rules_file == Path(
        "/srv/rules.yaml"
    )
    cfg.write_text("timezone: Mars/Olympus\n")
    with pytest.raises(ConfigError, match="unknown timezone"):
        load(cfg, {})
    cfg.write_text("spam_threshold: lots\n")
    with pytest.raises(ConfigError, match=r"spam_threshold.*expected a number"):
        load(cfg, {})
    cfg.write_text("spam_threshold: 7\n")
    assert load(cfg, {}).spam_threshold == 7.0


def test_oauth_entries_and_the_accounts_that_sign_in_with_them(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "oauth:\n"
        "  - {name: m365, provider: microsoft, tenant: example.com, client_id: app,\n"
        "     client_secret_env: M365_SECRET}\n"
        "  - {name: mail, provider: google, client_id: g}\n"
        "imap:\n"
        "  - {name: support, host: outlook.office365.com, user: s@example.com, oauth: m365}\n"
        "relay: {host: smtp.gmail.com, starttls: true, user: s@example.com, oauth: mail,\n"
        "        sasl: oauthbearer}\n",
    )
    settings = load(path, {"M365_SECRET": "shh"})
    m365, google = settings.oauth
    assert m365.client_secret == "shh" and "shh" not in repr(m365)
    assert (google.provider, google.client_secret) == ("google", "")
    assert settings.imap[0].oauth == "m365" and settings.imap[0].sasl == "xoauth2"
    assert settings.relay is not None and settings.relay.sasl == "oauthbearer"
    env = {"ECHODESK_OAUTH": '[{"name": "x", "provider": "google", "client_id": "c"}]'}
    assert load(_write(tmp_path, ""), env).oauth[0].name == "x"


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("oauth:\n  - {name: a, provider: yahoo, client_id: c}\n", {}, "microsoft, google"),
        ("oauth:\n  - {name: a, provider: generic, client_id: c}\n", {}, "token_url"),
        ("oauth:\n  - {name: a, provider: google}\n", {}, r"oauth\[0\].client_id' .*required"),
        (
            "oauth:\n  - {name: a, provider: google, client_id: c, client_secret_env: NOPE}\n",
            {},
            "NOPE",
        ),
        ("imap:\n  - {name: a, host: h, user: u, oauth: m365}\n", {}, "'m365' is not an entry"),
        (
            "oauth:\n  - {name: g, provider: google, client_id: c}\n"
            "imap:\n  - {name: a, host: h, user: u, oauth: g, sasl: plain}\n",
            {},
            "sasl expected one of xoauth2, oauthbearer",
        ),
        (
            "oauth:\n  - {name: g, provider: google, client_id: c}\n"
            "relay: {host: h, starttls: true, oauth: g}\n",
            {},
            "oauth needs 'user'",
        ),
    ],
)
def test_bad_oauth_settings_name_the_entry(
    tmp_path: Path, text: str, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load(_write(tmp_path, text), env)


def test_sla_policies_are_read_with_their_durations(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "sla:\n"
        "  - {name: urgent, priority: urgent, first_response: 30m, resolution: 1d 4h,\n"
        "     hours: calendar}\n"
        "  - {name: standard, first_response: 4h, next_response: 8h}\n"
        "sla_warn_percent: 75\n",
    )
    settings = load(path, {})
    urgent, standard = settings.sla
    assert urgent.targets == {"first_response": 1800, "resolution": 28 * 3600}
    assert (standard.hours, standard.targets["next_response"]) == ("business", 8 * 3600)
    assert settings.sla_warn_percent == 75
    env = {"ECHODESK_SLA": '[{"name": "all", "resolution": "2d"}]'}
    assert load(_write(tmp_path, ""), env).sla[0].targets == {"resolution": 2 * 86400}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sla:\n  - {name: a}\n", r"sla\[0\].*set at least one of first_response"),
        ("sla:\n  - {first_response: 4h}\n", r"sla\[0\].name' .*required"),
        ("sla:\n  - {name: a, first_response: soon}\n", "first_response: not a duration: 'soon'"),
        ("sla:\n  - {name: a, first_response: 0h}\n", "must be longer than nothing"),
        ("sla:\n  - {name: a, resolution: 4h, hours: office}\n", "business, calendar"),
        ("sla:\n  - {name: a, resolution: 4h, priority: asap}\n", "low, normal, high, urgent"),
        ("sla:\n  - {name: a, resolution: 4h, when: now}\n", "unknown key 'when'"),
        ("sla:\n  - {name: a, resolution: 4h}\n  - {name: a, resolution: 2h}\n", "unique"),
        ("sla: {name: a}\n", "expected a list of policies"),
        ("sla_warn_percent: 100\n", "between 1 and 99"),
    ],
)
def test_bad_sla_settings_name_the_policy_and_the_key(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load(_write(tmp_path, text), {})


def test_satisfaction_is_off_unless_asked_and_its_text_needs_every_link(tmp_path: Path) -> None:
    assert load(_write(tmp_path, ""), {}).satisfaction is False
    assert load(_write(tmp_path, "satisfaction: on\n"), {}).satisfaction is True
    text = "satisfaction: on\nsatisfaction_text: 'Rate us: $good or $bad'\n"
    with pytest.raises(ConfigError, match=r"satisfaction_text.*\$okay"):
        load(_write(tmp_path, text), {})
