"""The web console at /console/, driven in a real headless Chromium through Selenium: signing
in with the keys of `roost env` (and the API's error for a wrong secret), the JITP walkthrough's
thing, certificate and policy as the console shows them, deactivating a certificate to cut its
device off, the MQTT test client over the signed WebSocket, and, at a phone's width, registering
a CA, a refused policy document and paging through 60 things.

Every test also fails if the browser logged a Content Security Policy violation. Screenshots of
the overview and of a thing's page go to $ROOST_CONSOLE_SCREENSHOTS when set (else tmp_path).
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from unittest import mock

import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from conftest import Roost
from test_iot_data import data_client
from test_jitp import WALKTHROUGH_TEMPLATE, Walkthrough, published, sh, walkthrough  # noqa: F401 (fixture)
from test_mqtt_websocket import _wait_connected, mosquitto, raw_upgrade
from test_shadow import ALLOW_ALL, device

CHROMIUM = os.environ.get("ROOST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("ROOST_CHROMEDRIVER", "/usr/bin/chromedriver")
# The machine is slow and shared: every wait is generous, and none is a sleep.
TIMEOUT = 30
DESKTOP = (1280, 800)
PHONE = (390, 844)


class Console:
    """One headless Chromium on the console, with helpers named after what a user does."""

    def __init__(self, driver: webdriver.Chrome):
        self.driver = driver
        self.log: list[dict] = []

    # -- finding and waiting ----------------------------------------------------------------

    def wait(self, condition, timeout: float = TIMEOUT, message: str = ""):
        """Waits until `condition(driver)` is truthy (stale elements count as not yet)."""
        def attempt(driver):
            try:
                return condition(driver)
            except StaleElementReferenceException:
                return False
        try:
            return WebDriverWait(self.driver, timeout).until(attempt)
        except TimeoutException:
            raise AssertionError(f"timed out waiting for {message or condition}; page text:\n{self.page_text()}")

    def all(self, testid: str, within=None):
        return (within or self.driver).find_elements(By.CSS_SELECTOR, f'[data-testid="{testid}"]')

    def one(self, testid: str):
        """The first visible element with this test id, waited for."""
        return self.wait(lambda d: next((e for e in self.all(testid) if e.is_displayed()), None), message=testid)

    def text(self, testid: str) -> str:
        return self.one(testid).text

    def text_becomes(self, testid: str, predicate, message: str = "") -> str:
        return self.wait(lambda d: (lambda t: t if predicate(t) else None)(self.one(testid).text),
                         message=message or testid)

    def page_text(self) -> str:
        try:
            return self.driver.find_element(By.TAG_NAME, "body").text[:3000]
        except Exception:  # noqa: BLE001 - only for a failure message
            return "(no page)"

    def type(self, testid: str, text: str):
        element = self.one(testid)
        element.clear()
        element.send_keys(text)

    def click(self, testid: str):
        self.one(testid).click()

    def error(self) -> tuple[str, str]:
        """The error box's type and message, waited for."""
        box = self.one("error")
        return self.all("error-type", box)[0].text, self.all("error-message", box)[0].text

    def rows(self, table_testid: str) -> list[str]:
        table = self.one(table_testid)
        return [row.text for row in table.find_elements(By.CSS_SELECTOR, "tbody tr:not(.empty)")]

    def wait_rows(self, table_testid: str, predicate, message: str = "") -> list[str]:
        return self.wait(lambda d: (lambda rows: rows if predicate(rows) else None)(self.rows(table_testid)),
                         message=message or f"rows of {table_testid}")

    # -- navigation ----------------------------------------------------------------------------

    def open(self, server: Roost, route: str = ""):
        """Loads the console of `server` (a full page load) at `#/route`."""
        self.driver.get(f"{server.api_url}/console/#/{route}")

    def go(self, route: str):
        """Moves to `#/route` within the loaded console (no reload: sessionStorage stays)."""
        self.driver.execute_script("location.hash = arguments[0]", f"#/{route}")

    def sign_in(self, server: Roost, secret: str | None = None, wait: bool = True):
        exports = server.exports
        self.open(server)
        self.driver.execute_script("sessionStorage.clear()")
        self.driver.refresh()
        self.type("access-key-id", exports["AWS_ACCESS_KEY_ID"])
        self.type("secret-access-key", secret or exports["AWS_SECRET_ACCESS_KEY"])
        self.type("region", exports["AWS_DEFAULT_REGION"])
        self.click("sign-in")
        if wait:
            self.wait(lambda d: d.execute_script("return document.body.classList.contains('signed-in')"),
                      message="signed in")

    # -- window --------------------------------------------------------------------------------

    def viewport(self, size: tuple[int, int], mobile: bool = False):
        width, height = size
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})

    def overflows_sideways(self, width: int = PHONE[0]) -> bool:
        """Whether the page is wider than `width` (on a phone the browser would zoom out)."""
        return self.driver.execute_script(
            "return Math.max(document.documentElement.scrollWidth, window.innerWidth) > arguments[0]", width)

    def screenshot(self, directory: Path, name: str):
        directory.mkdir(parents=True, exist_ok=True)
        assert self.driver.save_screenshot(str(directory / name)), f"could not save {name}"

    # -- the browser's console log ---------------------------------------------------------

    def collect_log(self) -> list[dict]:
        self.log.extend(self.driver.get_log("browser"))
        return self.log


@pytest.fixture(scope="module")
def console():
    """A headless Chromium for the module, at a desktop's size."""
    assert Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists(), \
        "the console tests need chromium and chromedriver (scripts/test installs them)"
    options = Options()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="roost-console-chromium-")
    for argument in ["--headless=new", "--no-sandbox", "--disable-background-networking", "--disable-gpu",
                     "--no-first-run", "--disable-component-update", "--disable-sync",
                     "--disable-dev-shm-usage", f"--user-data-dir={profile}",
                     f"--window-size={DESKTOP[0]},{DESKTOP[1]}"]:
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # The explicit driver keeps Selenium Manager from looking for one on the network.
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(TIMEOUT)
    browser = Console(driver)
    browser.viewport(DESKTOP)
    yield browser
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(autouse=True)
def no_csp_violation(request):
    """Fails a test of this module if the browser reported a Content Security Policy violation."""
    yield
    if "console" not in request.fixturenames:
        return
    browser = request.getfixturevalue("console")
    entries = browser.collect_log()
    browser.log = []
    violations = [e["message"] for e in entries
                  if e.get("level") == "SEVERE" and "Content Security Policy" in e.get("message", "")]
    assert not violations, "the console broke its Content-Security-Policy:\n" + "\n".join(violations)


@pytest.fixture
def screenshots(tmp_path) -> Path:
    return Path(os.environ["ROOST_CONSOLE_SCREENSHOTS"]) if os.environ.get("ROOST_CONSOLE_SCREENSHOTS") \
        else tmp_path / "screenshots"


def provision_walkthrough_device(w: Walkthrough) -> tuple[str, str]:
    """The walkthrough up to the device's first connect; the CA's and the certificate's ids."""
    w.root_ca()
    (w.dir / "provisioning-template.json").write_text(WALKTHROUGH_TEMPLATE)
    w.verification_cert()
    ca_id = w.register_ca("--registration-config", f"file://{w.dir}/provisioning-template.json")["certificateId"]
    cert_id = w.device()
    result = w.publish()
    assert published(result), result.stdout + result.stderr
    return ca_id, cert_id


# -- signing in ------------------------------------------------------------------------------------


def test_a_wrong_secret_shows_the_apis_error_and_the_keys_of_roost_env_open_the_overview(
        roost, iot, console, screenshots):
    console.sign_in(roost, secret="not-the-secret-access-key", wait=False)
    error_type, message = console.error()
    assert error_type == "InvalidSignatureException"
    wrong = roost.raw("GET", "/cacertificates?pageSize=1", sign=False,
                      headers=signed_headers(roost, "/cacertificates?pageSize=1", "not-the-secret-access-key"))
    assert (error_type, message) == (wrong.error_type, wrong.message)
    assert console.driver.execute_script("return sessionStorage.length") == 0, "refused keys are not kept"

    console.sign_in(roost)
    endpoint = iot.describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"]
    assert console.text("endpoint-address") == endpoint
    assert console.text("stat-connected").isdigit()
    console.one("overview-cas")
    # The keys are in this tab's sessionStorage and nowhere else.
    stored = console.driver.execute_script(
        "return [sessionStorage.length, localStorage.length, document.cookie]")
    assert stored == [1, 0, ""]
    console.text_becomes("stat-in", lambda t: t != "…", "a second metrics sample")
    console.screenshot(screenshots, "console-overview.png")


def signed_headers(server: Roost, path: str, secret: str) -> dict:
    """Headers of `GET path` signed with `secret` (botocore), to compare the API's answer."""
    request = AWSRequest(method="GET", url=server.api_url + path)
    SigV4Auth(Credentials(server.exports["AWS_ACCESS_KEY_ID"], secret), "iot",
              server.exports["AWS_DEFAULT_REGION"]).add_auth(request)
    return dict(request.headers)


def test_the_browsers_signer_signs_and_presigns_as_botocore_does(roost, console):
    console.sign_in(roost)
    when = datetime.datetime(2024, 1, 2, 3, 4, 5)
    credentials = Credentials("AKIDEXAMPLE", "secret/with+chars")
    with mock.patch("botocore.auth.get_current_datetime", return_value=when):
        request = AWSRequest(method="GET", url="http://example.com:8080/things/a%3Ab?maxResults=2&nextToken=x%2By")
        SigV4Auth(credentials, "iot", "eu-west-1").add_auth(request)
        expected_header = request.headers["Authorization"]
        presigned = AWSRequest(method="GET", url="http://example.com:8080/mqtt")
        SigV4QueryAuth(credentials, "iotdevicegateway", "eu-west-1", expires=300).add_auth(presigned)
        expected_url = presigned.url.removeprefix("http://example.com:8080")
    got = console.driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        import(new URL('sigv4.js', location.href).href).then((m) => {
          const credentials = {accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret/with+chars'};
          const now = new Date(Date.UTC(2024, 0, 2, 3, 4, 5));
          done({
            sha: m.hex(m.sha256('abc')),
            hmac: m.hex(m.hmac('Jefe', 'what do ya want for nothing?')),
            header: m.signHeaders({method: 'GET', host: 'example.com:8080', path: '/things/a%3Ab',
              query: m.canonicalQuery([['nextToken', 'x+y'], ['maxResults', '2']]), service: 'iot',
              region: 'eu-west-1', credentials, now}).authorization,
            presigned: m.presignPath({host: 'example.com:8080', path: '/mqtt', service: 'iotdevicegateway',
              region: 'eu-west-1', credentials, now}),
          });
        }).catch((e) => done({error: String(e)}));
    """)
    assert "error" not in got, got
    # FIPS 180-2's "abc" and RFC 4231's test case 2.
    assert got["sha"] == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert got["hmac"] == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert got["header"] == expected_header
    assert got["presigned"] == expected_url


# -- the JITP walkthrough's results ---------------------------------------------------------------


def test_after_the_walkthroughs_jitp_connect_the_console_shows_the_thing_the_active_certificate_and_the_policy(
        walkthrough, console, screenshots):
    w = walkthrough
    ca_id, cert_id = provision_walkthrough_device(w)
    cert_arn = w.server.arn("cert", cert_id)
    policy = w.aws("list-attached-policies", "--target", cert_arn)["policies"][0]["policyName"]
    data = data_client(w.server)
    data.update_thing_shadow(thingName=cert_id, payload=json.dumps({"state": {"reported": {"temp": 21}}}))
    data.update_thing_shadow(thingName=cert_id, shadowName="config",
                             payload=json.dumps({"state": {"desired": {"interval": 60}}}))

    console.sign_in(w.server)
    console.go("things")
    console.wait_rows("things", lambda rows: any(cert_id in r for r in rows), "the provisioned thing")
    console.driver.find_element(By.LINK_TEXT, cert_id).click()
    attributes = console.wait_rows("thing-attributes", lambda rows: len(rows) == 2)
    assert sorted(attributes) == ["country US", "version v1"]
    console.wait_rows("thing-principals", lambda rows: rows == [cert_arn])
    shadows = console.text_becomes("shadows", lambda t: "Loading" not in t)
    assert "Classic shadow" in shadows and '"temp": 21' in shadows
    assert 'Named shadow "config"' in shadows and '"interval": 60' in shadows
    console.screenshot(screenshots, "console-thing.png")

    console.one("thing-principals").find_element(By.LINK_TEXT, cert_arn).click()
    console.text_becomes("certificate-id", lambda t: t == cert_id)
    assert console.text("certificate-status") == "ACTIVE"
    assert console.text("certificate-ca") == ca_id
    assert "CN=device-001" in console.text("fact-subject")
    assert "CN=Example Root CA" in console.text("fact-issuer")
    console.wait_rows("certificate-policies", lambda rows: rows == [policy])
    console.wait_rows("certificate-things", lambda rows: rows == [cert_id])

    console.click("certificate-ca")
    console.text_becomes("ca-id", lambda t: t == ca_id)
    assert console.text("ca-status") == "ACTIVE"
    assert console.text("ca-auto-registration") == "ENABLE"
    rows = console.wait_rows("ca-certificates", lambda rows: len(rows) == 1)
    assert cert_id in rows[0] and "ACTIVE" in rows[0]


def test_deactivating_a_certificate_in_the_console_cuts_its_devices_live_connection(walkthrough, console):
    w = walkthrough
    _, cert_id = provision_walkthrough_device(w)
    # The walkthrough's policy allows Connect and Publish; the subscriber needs Subscribe too.
    w.aws("create-policy", "--policy-name", "subscriber", "--policy-document", ALLOW_ALL)
    w.aws("attach-policy", "--policy-name", "subscriber", "--target", w.server.arn("cert", cert_id))
    subscriber = subprocess.Popen(
        mosquitto(w.server, "mosquitto_sub", str(w.dir / "deviceCertAndCACert.crt"), str(w.dir / "deviceCert.key"),
                  "-i", "walkthrough-device", "-q", "1", "-t", "devices/#", command_only=True),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_connected(data_client(w.server), subscriber, w.server)
        console.sign_in(w.server)
        console.go("connections")
        row = console.wait_rows("connections", lambda rows: any("walkthrough-device" in r for r in rows))[0]
        assert cert_id in row  # the principal and the thing
        assert "devices/# (QoS 1)" in row
        assert "MQTT" in row

        console.go(f"certificates/{cert_id}")
        console.text_becomes("certificate-status", lambda t: t == "ACTIVE")
        console.click("deactivate")
        console.text_becomes("certificate-status", lambda t: t == "INACTIVE")
        subscriber.wait(timeout=TIMEOUT)
    finally:
        subscriber.kill()
        out, err = subscriber.communicate()
    assert subscriber.returncode != 0, out + err
    assert not is_connected(w.server, "walkthrough-device")
    # Its next connect is refused, and the overview counts it.
    assert not published(w.publish())
    console.go("")
    refused = re.compile(r"CONNECTs refused \(AUTHORIZATION_FAILED\)\n[1-9]")
    console.text_becomes("stat-failures", lambda t: refused.search(t) is not None,
                         "the overview counts the refused connect")


def is_connected(server: Roost, client_id: str) -> bool:
    data = data_client(server)
    try:
        return data.get_connection(clientId=client_id)["connected"]
    except data.exceptions.ResourceNotFoundException:
        return False


# -- the MQTT test client --------------------------------------------------------------------------


def test_the_mqtt_test_client_sees_a_devices_message_and_its_publish_reaches_a_device(
        roost, console, tmp_path, unique):
    cert, key = device(roost, tmp_path, unique("device"))
    base = unique("console")
    console.sign_in(roost)
    console.go("mqtt")
    console.type("mqtt-client-id", base)
    Select(console.one("mqtt-protocol")).select_by_visible_text("MQTT 5.0")
    console.click("mqtt-connect")
    console.text_becomes("mqtt-state-word", lambda t: t == "connected")

    console.type("mqtt-filter", f"{base}/up/#")
    Select(console.one("mqtt-subscribe-qos")).select_by_visible_text("QoS 1")
    console.click("mqtt-subscribe")
    console.text_becomes("mqtt-subscriptions", lambda t: f"{base}/up/# (QoS 1)" in t)
    sent = mosquitto(roost, "mosquitto_pub", cert, key, "-i", unique("pub"), "-q", "1",
                     "-t", f"{base}/up/temp", "-m", '{"celsius": 21}')
    assert sent.returncode == 0, sent.stderr
    console.text_becomes("mqtt-message-topic", lambda t: t == f"{base}/up/temp")
    assert console.text("mqtt-message-payload") == '{"celsius": 21}'

    # A device subscribed to the console's topic receives its publish with the MQTT 5 properties.
    subscriber = subprocess.Popen(
        mosquitto(roost, "mosquitto_sub", cert, key, "-i", unique("sub"), "-V", "mqttv5", "-q", "1",
                  "-t", f"{base}/down", "-C", "1", "-W", str(TIMEOUT), "-F", "%t|%q|%p|%C|%R|%P",
                  command_only=True),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_connected(data_client(roost), subscriber, roost)
        publish_from_console(console, f"{base}/down", "hello device", qos="QoS 1",
                             content_type="text/plain", response_topic=f"{base}/reply",
                             user_properties="source=console")
        out, err = subscriber.communicate(timeout=TIMEOUT)
    finally:
        subscriber.kill()
    assert subscriber.returncode == 0, err
    assert out.strip() == f"{base}/down|1|hello device|text/plain|{base}/reply|source:console"

    # Retained: a subscriber that comes later still gets it, flagged retained.
    publish_from_console(console, f"{base}/state", "on", qos="QoS 1", retain=True)
    later = mosquitto(roost, "mosquitto_sub", cert, key, "-i", unique("late"), "-q", "1",
                      "-t", f"{base}/state", "-C", "1", "-W", str(TIMEOUT), "-F", "%t|%r|%p")
    assert later.stdout.strip() == f"{base}/state|1|on", later.stderr

    # The console's own connection, seen and cut from the connections page (iot-data's
    # GetConnection, ListSubscriptions and DeleteConnection).
    console.go(f"connections/{base}")
    assert console.text("fact-connected") == "CONNECTED"
    console.wait_rows("connection-subscriptions", lambda rows: rows == [f"{base}/up/# 1"])
    console.click("disconnect")
    console.click("confirm-ok")
    console.text_becomes("ok", lambda t: t == "Disconnected.")
    console.go("mqtt")
    console.text_becomes("mqtt-state-word", lambda t: t == "disconnected")

    # The console's WebSocket is the signed one: an upgrade without a signature is refused.
    status, head = raw_upgrade(roost, "/mqtt")
    assert status == 403, head


def publish_from_console(console: Console, topic: str, payload: str, qos: str = "QoS 0", retain: bool = False,
                         content_type: str = "", response_topic: str = "", user_properties: str = ""):
    console.type("mqtt-topic", topic)
    console.type("mqtt-payload", payload)
    Select(console.one("mqtt-publish-qos")).select_by_visible_text(qos)
    if console.one("mqtt-retain").is_selected() != retain:
        console.click("mqtt-retain")
    console.type("mqtt-content-type", content_type)
    console.type("mqtt-response-topic", response_topic)
    console.type("mqtt-user-properties", user_properties)
    console.click("mqtt-publish")
    console.text_becomes("mqtt-publish-status", lambda t: f"Published to {topic}." in t)


# -- at a phone's width --------------------------------------------------------------------------


def test_at_a_phones_width_the_console_pages_through_60_things_refuses_a_malformed_policy_and_registers_a_ca(
        fresh_roost, console, tmp_path):
    server = fresh_roost
    iot = server.client()
    names = [f"sensor-{i:02d}" for i in range(60)]
    for name in names:
        iot.create_thing(thingName=name, attributePayload={"attributes": {"floor": str(int(name[-2:]) % 3)}})
    console.viewport(PHONE, mobile=True)
    try:
        console.sign_in(server)
        assert console.driver.execute_script("return window.innerWidth") == PHONE[0]
        # The navigation hides behind the menu button.
        console.click("menu-toggle")
        console.one("nav").find_element(By.LINK_TEXT, "Things").click()
        console.wait_rows("things", lambda rows: len(rows) == 25, "the first page")
        seen = console.rows("things")
        console.click("things-more")
        console.wait_rows("things", lambda rows: len(rows) == 50, "the second page")
        console.click("things-more")
        rows = console.wait_rows("things", lambda rows: len(rows) == 60, "the last page")
        assert seen == rows[:25]
        assert sorted(r.split()[0] for r in rows) == names
        assert not any(e.is_displayed() for e in console.all("things-more")), "no next page after the last"
        assert not console.overflows_sideways()
        # The name filter narrows what was loaded; the attribute filter is the API's.
        console.type("filter-name", "sensor-05")
        console.wait_rows("things", lambda rows: [r.split()[0] for r in rows] == ["sensor-05"])
        console.type("filter-name", "")
        console.type("filter-attribute-name", "floor")
        console.type("filter-attribute-value", "1")
        console.click("things-search-submit")
        floor_one = [n for n in names if int(n[-2:]) % 3 == 1]
        console.wait_rows("things", lambda rows: sorted(r.split()[0] for r in rows) == floor_one, "floor 1 only")

        # A policy whose statement has no Action: AWS's error type and message, as boto3 gets them.
        bad = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*"}]})
        with pytest.raises(ClientError) as refused:
            iot.create_policy(policyName="no-action", policyDocument=bad)
        console.go("policies/new")
        console.type("policy-name", "no-action")
        console.type("policy-document", bad)
        console.click("save-policy")
        assert console.error() == ("MalformedPolicyException", refused.value.response["Error"]["Message"])
        assert not console.overflows_sideways()

        register_a_ca_in_the_console(server, console, tmp_path)
    finally:
        console.viewport(DESKTOP)


def register_a_ca_in_the_console(server: Roost, console: Console, tmp_path: Path):
    """The walkthrough's CA registration, with the registration code read off the page, the CA
    uploaded as a file and the verification certificate pasted."""
    w = Walkthrough(server, tmp_path / "ca")
    w.root_ca()
    console.go("cas/register")
    code = console.text_becomes("registration-code", lambda t: len(t) > 8)
    sh("openssl", "genrsa", "-out", "verificationCert.key", "2048", cwd=w.dir)
    sh("openssl", "req", "-new", "-key", "verificationCert.key", "-out", "verificationCert.csr",
       "-subj", f"/CN={code}", cwd=w.dir)
    sh("openssl", "x509", "-req", "-in", "verificationCert.csr", "-CA", "rootCA.pem", "-CAkey", "rootCA.key",
       "-CAcreateserial", "-out", "verificationCert.pem", "-days", "500", "-sha256", cwd=w.dir)
    ca_pem = (w.dir / "rootCA.pem").read_text()
    console.all("ca-pem-file")[0].send_keys(str(w.dir / "rootCA.pem"))
    console.wait(lambda d: console.one("ca-pem").get_attribute("value") == ca_pem, message="the CA file loaded")
    console.type("verification-pem", (w.dir / "verificationCert.pem").read_text())
    console.type("registration-config", WALKTHROUGH_TEMPLATE)
    assert console.one("set-as-active").is_selected() and console.one("allow-auto-registration").is_selected()
    assert not console.overflows_sideways()
    console.click("register-ca")

    ca_id = console.text_becomes("ca-id", lambda t: len(t) == 64)
    assert console.text("ca-status") == "ACTIVE"
    assert console.text("ca-auto-registration") == "ENABLE"
    assert not console.overflows_sideways()
    described = server.client().describe_ca_certificate(certificateId=ca_id)
    assert described["certificateDescription"]["certificatePem"].strip() == ca_pem.strip()
    assert described["registrationConfig"]["roleArn"] == "arn:aws:iam::123456789012:role/JITPRole"

    # Revoking all of the CA's certificates is guarded: the CA's id must be typed first.
    console.click("ca-revoke-all")
    assert not console.one("confirm-ok").is_enabled()
    console.type("confirm-input", ca_id)
    console.click("confirm-ok")
    console.text_becomes("ok", lambda t: t == "0 certificates revoked.")
