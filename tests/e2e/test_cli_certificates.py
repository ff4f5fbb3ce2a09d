"""Registration code, CA certificates and device certificates through the real AWS CLI,
with certificates made by openssl as the AWS JITP walkthrough makes them."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

import certs

HEX64 = re.compile(r"^[0-9a-f]{64}$")

# Walkthrough §3, verbatim.
PROVISIONING_TEMPLATE = r"""{"templateBody":"{ \"Parameters\" : { \"AWS::IoT::Certificate::Country\" : { \"Type\" : \"String\" }, \"AWS::IoT::Certificate::Id\" : { \"Type\" : \"String\" } }, \"Resources\" : { \"thing\" : { \"Type\" : \"AWS::IoT::Thing\", \"Properties\" : { \"ThingName\" : {\"Ref\" : \"AWS::IoT::Certificate::Id\"}, \"AttributePayload\" : { \"version\" : \"v1\", \"country\" : {\"Ref\" : \"AWS::IoT::Certificate::Country\"}} } }, \"certificate\" : { \"Type\" : \"AWS::IoT::Certificate\", \"Properties\" : { \"CertificateId\": {\"Ref\" : \"AWS::IoT::Certificate::Id\"}, \"Status\" : \"ACTIVE\" } }, \"policy\" : {\"Type\" : \"AWS::IoT::Policy\", \"Properties\" : { \"PolicyDocument\" : \"{\\\"Version\\\": \\\"2012-10-17\\\",\\\"Statement\\\": [{\\\"Effect\\\":\\\"Allow\\\",\\\"Action\\\": [\\\"iot:Connect\\\",\\\"iot:Publish\\\"],\\\"Resource\\\" : [\\\"*\\\"]}]}\" } } } }","roleArn":"arn:aws:iam::123456789012:role/JITPRole"}"""

POLICY = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iot:*", "Resource": "*"}]}
)


@pytest.fixture
def work(tmp_path):
    return tmp_path


def registered_ca(roost, work, name, *extra):
    """A CA registered with its proof of possession; returns (Cert, certificateId)."""
    ca = certs.root_ca(work / name, subj=f"/C=US/O=Roost Tests/CN={name}")
    code = roost.aws("get-registration-code")["registrationCode"]
    verification = certs.verification_cert(ca, work / name, code)
    out = roost.aws(
        "register-ca-certificate",
        "--ca-certificate", ca.uri,
        "--verification-certificate", verification.uri,
        *extra,
    )
    return ca, out["certificateId"]


def ca_ids(roost):
    return {c["certificateId"] for c in roost.aws("list-ca-certificates")["certificates"]}


def certificate_ids(roost):
    return {c["certificateId"] for c in roost.aws("list-certificates")["certificates"]}


# -- registration code ------------------------------------------------------------------------


def test_the_registration_code_is_stable_until_deleted(roost):
    first = roost.aws("get-registration-code")["registrationCode"]
    assert HEX64.match(first)
    assert roost.aws("get-registration-code")["registrationCode"] == first

    assert roost.aws("delete-registration-code") == {}
    second = roost.aws("get-registration-code")["registrationCode"]
    assert HEX64.match(second) and second != first


def test_deleting_a_registration_code_that_does_not_exist_is_not_found(fresh_roost):
    err = fresh_roost.aws_error("delete-registration-code")
    assert err.code == "ResourceNotFoundException"


# -- the walkthrough ---------------------------------------------------------------------------


def test_the_jitp_walkthrough_registers_a_ca_with_proof_of_possession(roost, work):
    # §1: a CA of the user's own.
    ca = certs.root_ca(work, subj="/C=US/ST=WA/O=Walkthrough/CN=Walkthrough Root CA")
    # §3: the provisioning template, as a file.
    template = work / "provisioning-template.json"
    template.write_text(PROVISIONING_TEMPLATE)
    # §4: the registration code and the verification certificate.
    code = roost.aws("get-registration-code")["registrationCode"]
    verification = certs.verification_cert(ca, work, code)
    assert "Version: 1 (0x0)" in certs.text(verification.pem, work), "openssl made a v1 certificate"

    out = roost.aws(
        "register-ca-certificate",
        "--ca-certificate", ca.uri,
        "--verification-cert", verification.uri,  # the post's spelling: a prefix of the option
        "--set-as-active",
        "--allow-auto-registration",
        "--registration-config", f"file://{template}",
    )
    ca_id = certs.fingerprint_id(ca.pem, work)
    assert out == {
        "certificateArn": roost.arn("cacert", ca_id),
        "certificateId": ca_id,
    }

    described = roost.aws("describe-ca-certificate", "--certificate-id", ca_id)
    description = described["certificateDescription"]
    assert description["certificateArn"] == roost.arn("cacert", ca_id)
    assert description["certificateId"] == ca_id
    assert description["status"] == "ACTIVE"
    assert description["autoRegistrationStatus"] == "ENABLE"
    assert description["certificateMode"] == "DEFAULT"
    assert description["certificatePem"].strip() == ca.pem.strip()
    assert description["ownedBy"] == "123456789012"
    assert description["customerVersion"] == 1
    assert description["generationId"]
    assert description["creationDate"] and description["lastModifiedDate"]
    assert description["validity"]["notBefore"] < description["validity"]["notAfter"]
    expected_config = json.loads(PROVISIONING_TEMPLATE)
    assert described["registrationConfig"] == expected_config

    listed = roost.aws("list-ca-certificates")["certificates"]
    mine = [c for c in listed if c["certificateId"] == ca_id]
    assert len(mine) == 1
    assert mine[0]["certificateArn"] == roost.arn("cacert", ca_id)
    assert mine[0]["status"] == "ACTIVE"
    assert "creationDate" in mine[0]

    # §5: a device certificate signed by the CA is accepted by RegisterCertificate.
    device = certs.signed_by(ca, work, "deviceCert", "/C=US/ST=WA/O=Walkthrough/CN=device-1", days=365)
    registered = roost.aws("register-certificate", "--certificate-pem", device.uri, "--set-as-active")
    assert registered["certificateId"] == device.certificate_id
    by_ca = roost.aws("list-certificates-by-ca", "--ca-certificate-id", ca_id)["certificates"]
    assert [c["certificateId"] for c in by_ca] == [device.certificate_id]
    assert by_ca[0]["status"] == "ACTIVE"


def test_a_verification_certificate_with_the_wrong_common_name_is_refused(roost, work):
    ca = certs.root_ca(work, subj="/O=Roost Tests/CN=Wrong CN CA")
    roost.aws("get-registration-code")
    verification = certs.verification_cert(ca, work, "0123456789abcdef" * 4)
    before = ca_ids(roost)
    err = roost.aws_error(
        "register-ca-certificate", "--ca-certificate", ca.uri,
        "--verification-certificate", verification.uri,
    )
    assert err.code == "RegistrationCodeValidationException"
    assert ca_ids(roost) == before


def test_a_verification_certificate_signed_by_another_key_is_refused(roost, work):
    ca = certs.root_ca(work / "real", subj="/O=Roost Tests/CN=Possessed CA")
    # Same subject, different key: the impostor cannot sign for the real CA.
    impostor = certs.root_ca(work / "impostor", subj="/O=Roost Tests/CN=Possessed CA")
    code = roost.aws("get-registration-code")["registrationCode"]
    verification = certs.verification_cert(impostor, work / "impostor", code)
    before = ca_ids(roost)
    err = roost.aws_error(
        "register-ca-certificate", "--ca-certificate", ca.uri,
        "--verification-certificate", verification.uri,
    )
    assert err.code == "RegistrationCodeValidationException"
    assert ca_ids(roost) == before


def test_a_verification_certificate_for_an_old_registration_code_is_refused(roost, work):
    ca = certs.root_ca(work, subj="/O=Roost Tests/CN=Stale Code CA")
    old = roost.aws("get-registration-code")["registrationCode"]
    verification = certs.verification_cert(ca, work, old)
    roost.aws("delete-registration-code")
    roost.aws("get-registration-code")
    err = roost.aws_error(
        "register-ca-certificate", "--ca-certificate", ca.uri,
        "--verification-certificate", verification.uri,
    )
    assert err.code == "RegistrationCodeValidationException"


def test_registering_the_same_ca_twice_is_already_exists(roost, work):
    ca, ca_id = registered_ca(roost, work, "Duplicate CA")
    code = roost.aws("get-registration-code")["registrationCode"]
    verification = certs.verification_cert(ca, work, code, name="second")
    err = roost.aws_error(
        "register-ca-certificate", "--ca-certificate", ca.uri,
        "--verification-certificate", verification.uri,
    )
    assert err.code == "ResourceAlreadyExistsException"
    # boto3 also gets the resource's id and ARN.
    iot = roost.client()
    with pytest.raises(iot.exceptions.ResourceAlreadyExistsException) as raised:
        iot.register_ca_certificate(caCertificate=ca.pem, verificationCertificate=verification.pem)
    assert raised.value.response["resourceId"] == ca_id
    assert raised.value.response["resourceArn"] == roost.arn("cacert", ca_id)


def test_a_ca_is_registered_inactive_without_auto_registration_by_default(roost, work):
    _, ca_id = registered_ca(roost, work, "Default Flags CA")
    described = roost.aws("describe-ca-certificate", "--certificate-id", ca_id)
    assert described["certificateDescription"]["status"] == "INACTIVE"
    assert described["certificateDescription"]["autoRegistrationStatus"] == "DISABLE"
    assert "registrationConfig" not in described


def test_sni_only_mode_registers_a_ca_without_proof_of_possession(roost, work):
    ca = certs.root_ca(work, subj="/O=Roost Tests/CN=SNI Only CA")
    out = roost.aws(
        "register-ca-certificate", "--ca-certificate", ca.uri, "--certificate-mode", "SNI_ONLY",
        "--set-as-active",
    )
    described = roost.aws("describe-ca-certificate", "--certificate-id", out["certificateId"])
    assert described["certificateDescription"]["certificateMode"] == "SNI_ONLY"
    assert described["certificateDescription"]["status"] == "ACTIVE"
    # Device certificates registered under it take its mode.
    device = certs.signed_by(ca, work, "sni-device", "/CN=sni-device")
    cert_id = roost.aws("register-certificate", "--certificate-pem", device.uri)["certificateId"]
    cert = roost.aws("describe-certificate", "--certificate-id", cert_id)["certificateDescription"]
    assert cert["certificateMode"] == "SNI_ONLY"
    assert cert["caCertificateId"] == out["certificateId"]


def test_the_mode_and_the_verification_certificate_must_agree(roost, work):
    ca = certs.root_ca(work, subj="/O=Roost Tests/CN=Mode Mismatch CA")
    code = roost.aws("get-registration-code")["registrationCode"]
    verification = certs.verification_cert(ca, work, code)
    before = ca_ids(roost)

    err = roost.aws_error("register-ca-certificate", "--ca-certificate", ca.uri)
    assert err.code == "InvalidRequestException"
    assert "verificationCertificate" in err.message

    err = roost.aws_error(
        "register-ca-certificate", "--ca-certificate", ca.uri, "--certificate-mode", "SNI_ONLY",
        "--verification-certificate", verification.uri,
    )
    assert err.code == "InvalidRequestException"
    assert "verificationCertificate" in err.message
    assert ca_ids(roost) == before


def jitp_template(roost, name):
    """Creates a JITP provisioning template (a CA's registrationConfig may only name one)."""
    body = json.loads(PROVISIONING_TEMPLATE)["templateBody"]
    result = roost.aws_raw(
        "create-provisioning-template", "--template-name", name, "--template-body", body,
        "--provisioning-role-arn", "arn:aws:iam::123456789012:role/JITPRole", "--type", "JITP",
    )
    assert result.returncode == 0, result.stderr


def test_a_registration_config_can_name_a_template(roost, work):
    ca = certs.root_ca(work / "unnamed", subj="/O=Roost Tests/CN=Unnamed Template CA")
    code = roost.aws("get-registration-code")["registrationCode"]
    verification = certs.verification_cert(ca, work / "unnamed", code)
    err = roost.aws_error(
        "register-ca-certificate", "--ca-certificate", ca.uri, "--verification-certificate",
        verification.uri, "--registration-config", "templateName=no-such-template",
    )
    assert err.code in ("InvalidRequestException", "ResourceNotFoundException"), err
    assert "templateName" in err.message

    jitp_template(roost, "fleet-jitp")
    _, ca_id = registered_ca(
        roost, work, "Template Name CA", "--registration-config", "templateName=fleet-jitp"
    )
    described = roost.aws("describe-ca-certificate", "--certificate-id", ca_id)
    assert described["registrationConfig"] == {"templateName": "fleet-jitp"}
    listed = roost.aws("list-ca-certificates", "--template-name", "fleet-jitp")["certificates"]
    assert [c["certificateId"] for c in listed] == [ca_id]
    assert roost.aws("list-ca-certificates", "--template-name", "no-such")["certificates"] == []


def test_a_registration_config_must_not_name_a_template_and_carry_a_body(roost, work):
    ca = certs.root_ca(work, subj="/O=Roost Tests/CN=Both Config CA")
    code = roost.aws("get-registration-code")["registrationCode"]
    verification = certs.verification_cert(ca, work, code)
    err = roost.aws_error(
        "register-ca-certificate", "--ca-certificate", ca.uri,
        "--verification-certificate", verification.uri,
        "--registration-config", 'templateName=x,templateBody="{}",roleArn=arn:aws:iam::123456789012:role/JITPRole',
    )
    assert err.code == "InvalidRequestException"
    assert "registrationConfig" in err.message


def test_a_template_body_that_is_not_json_is_refused(roost, work):
    ca = certs.root_ca(work, subj="/O=Roost Tests/CN=Bad Template CA")
    code = roost.aws("get-registration-code")["registrationCode"]
    verification = certs.verification_cert(ca, work, code)
    config = work / "config.json"
    config.write_text(json.dumps({"templateBody": "{not json", "roleArn": "arn:aws:iam::123456789012:role/JITPRole"}))
    err = roost.aws_error(
        "register-ca-certificate", "--ca-certificate", ca.uri,
        "--verification-certificate", verification.uri, "--registration-config", f"file://{config}",
    )
    assert err.code == "InvalidRequestException"
    assert "templateBody" in err.message


def test_update_ca_certificate_changes_status_auto_registration_and_config(roost, work):
    template = work / "provisioning-template.json"
    template.write_text(PROVISIONING_TEMPLATE)
    _, ca_id = registered_ca(
        roost, work, "Updated CA", "--set-as-active", "--allow-auto-registration",
        "--registration-config", f"file://{template}",
    )
    before = roost.aws("describe-ca-certificate", "--certificate-id", ca_id)["certificateDescription"]

    assert roost.aws(
        "update-ca-certificate", "--certificate-id", ca_id, "--new-status", "INACTIVE",
        "--new-auto-registration-status", "DISABLE",
    ) == {}
    after = roost.aws("describe-ca-certificate", "--certificate-id", ca_id)
    assert after["certificateDescription"]["status"] == "INACTIVE"
    assert after["certificateDescription"]["autoRegistrationStatus"] == "DISABLE"
    assert after["certificateDescription"]["customerVersion"] == before["customerVersion"] + 1
    assert after["certificateDescription"]["generationId"] != before["generationId"]
    assert after["registrationConfig"] == json.loads(PROVISIONING_TEMPLATE)

    roost.aws("update-ca-certificate", "--certificate-id", ca_id, "--remove-auto-registration")
    assert "registrationConfig" not in roost.aws("describe-ca-certificate", "--certificate-id", ca_id)

    later = dict(json.loads(PROVISIONING_TEMPLATE), roleArn="arn:aws:iam::123456789012:role/LaterRole")
    (work / "later.json").write_text(json.dumps(later))
    roost.aws(
        "update-ca-certificate", "--certificate-id", ca_id,
        "--registration-config", f"file://{work / 'later.json'}", "--new-status", "ACTIVE",
    )
    described = roost.aws("describe-ca-certificate", "--certificate-id", ca_id)
    assert described["registrationConfig"] == later
    assert described["certificateDescription"]["status"] == "ACTIVE"


def test_update_ca_certificate_refuses_unknown_values_and_ids(roost, work):
    _, ca_id = registered_ca(roost, work, "Strict Update CA")
    err = roost.client()
    with pytest.raises(err.exceptions.InvalidRequestException) as raised:
        err.update_ca_certificate(certificateId=ca_id, newStatus="REVOKED")
    assert "newStatus" in raised.value.response["Error"]["Message"]

    missing = "0" * 64
    nf = roost.aws_error("update-ca-certificate", "--certificate-id", missing, "--new-status", "ACTIVE")
    assert nf.code == "ResourceNotFoundException"
    nf = roost.aws_error("describe-ca-certificate", "--certificate-id", missing)
    assert nf.code == "ResourceNotFoundException"


def test_an_active_ca_cannot_be_deleted_but_an_inactive_one_can(roost, work):
    ca, ca_id = registered_ca(roost, work, "Deleted CA", "--set-as-active")
    device = certs.signed_by(ca, work, "orphan", "/CN=orphan")
    cert_id = roost.aws("register-certificate", "--certificate-pem", device.uri)["certificateId"]

    err = roost.aws_error("delete-ca-certificate", "--certificate-id", ca_id)
    assert err.code == "CertificateStateException"
    assert ca_id in ca_ids(roost)

    roost.aws("update-ca-certificate", "--certificate-id", ca_id, "--new-status", "INACTIVE")
    assert roost.aws("delete-ca-certificate", "--certificate-id", ca_id) == {}
    assert ca_id not in ca_ids(roost)
    err = roost.aws_error("describe-ca-certificate", "--certificate-id", ca_id)
    assert err.code == "ResourceNotFoundException"
    # Certificates it signed stay registered (AWS: they keep working until revoked).
    assert roost.aws("describe-certificate", "--certificate-id", cert_id)["certificateDescription"]


def test_a_ca_that_is_not_a_ca_is_refused(roost, work):
    ca = certs.root_ca(work, subj="/O=Roost Tests/CN=Issuer Of Leaf")
    leaf = certs.signed_by(ca, work, "leaf", "/CN=not-a-ca")
    err = roost.aws_error(
        "register-ca-certificate", "--ca-certificate", leaf.uri, "--certificate-mode", "SNI_ONLY"
    )
    assert err.code == "CertificateValidationException"
    assert "caCertificate" in err.message


# -- device certificates ----------------------------------------------------------------------


def test_register_certificate_finds_the_ca_by_issuer_or_takes_it_explicitly(roost, work):
    ca, ca_id = registered_ca(roost, work, "Device CA", "--set-as-active")
    one = certs.signed_by(ca, work, "one", "/C=US/CN=device-one")
    two = certs.signed_by(ca, work, "two", "/C=US/CN=device-two")

    out = roost.aws("register-certificate", "--certificate-pem", one.uri)
    assert out == {"certificateArn": roost.arn("cert", one.certificate_id), "certificateId": one.certificate_id}
    out = roost.aws(
        "register-certificate", "--certificate-pem", two.uri, "--ca-certificate-pem", ca.uri,
        "--status", "ACTIVE",
    )
    assert out["certificateId"] == two.certificate_id

    d1 = roost.aws("describe-certificate", "--certificate-id", one.certificate_id)["certificateDescription"]
    assert d1["status"] == "INACTIVE", "the default status of RegisterCertificate"
    assert d1["caCertificateId"] == ca_id
    assert d1["certificateMode"] == "DEFAULT"
    assert d1["certificatePem"].strip() == one.pem.strip()
    assert d1["ownedBy"] == "123456789012"
    assert d1["customerVersion"] == 1
    assert d1["validity"]["notBefore"] < d1["validity"]["notAfter"]
    d2 = roost.aws("describe-certificate", "--certificate-id", two.certificate_id)["certificateDescription"]
    assert d2["status"] == "ACTIVE"

    by_ca = roost.aws("list-certificates-by-ca", "--ca-certificate-id", ca_id)["certificates"]
    assert {c["certificateId"] for c in by_ca} == {one.certificate_id, two.certificate_id}

    err = roost.aws_error("register-certificate", "--certificate-pem", one.uri)
    assert err.code == "ResourceAlreadyExistsException"


def test_register_certificate_refuses_a_certificate_no_registered_ca_signed(roost, work):
    ca, _ = registered_ca(roost, work, "Shared Subject CA", "--set-as-active")
    unknown = certs.root_ca(work / "unknown", subj="/O=Roost Tests/CN=Unregistered CA")
    stranger = certs.signed_by(unknown, work / "unknown", "stranger", "/CN=stranger")
    # Same issuer name as the registered CA, but another key.
    twin = certs.root_ca(work / "twin", subj="/C=US/O=Roost Tests/CN=Shared Subject CA")
    forged = certs.signed_by(twin, work / "twin", "forged", "/CN=forged")
    before = certificate_ids(roost)

    for leaf in (stranger, forged):
        err = roost.aws_error("register-certificate", "--certificate-pem", leaf.uri)
        assert err.code == "CertificateValidationException", err
    err = roost.aws_error(
        "register-certificate", "--certificate-pem", forged.uri, "--ca-certificate-pem", ca.uri
    )
    assert err.code == "CertificateValidationException"
    assert certificate_ids(roost) == before


def test_register_certificate_under_an_inactive_ca_is_refused(roost, work):
    ca, _ = registered_ca(roost, work, "Sleeping CA")
    leaf = certs.signed_by(ca, work, "leaf", "/CN=sleeper")
    err = roost.aws_error("register-certificate", "--certificate-pem", leaf.uri)
    assert err.code == "CertificateStateException"


def test_register_certificate_without_ca_takes_any_certificate(roost, work):
    cert = certs.self_signed(work, "selfsigned", "/CN=self-signed-device")
    out = roost.aws("register-certificate-without-ca", "--certificate-pem", cert.uri, "--status", "ACTIVE")
    assert out == {"certificateArn": roost.arn("cert", cert.certificate_id), "certificateId": cert.certificate_id}
    described = roost.aws("describe-certificate", "--certificate-id", cert.certificate_id)["certificateDescription"]
    assert described["status"] == "ACTIVE"
    assert described["certificateMode"] == "SNI_ONLY"
    assert "caCertificateId" not in described
    other = certs.self_signed(work, "selfsigned2", "/CN=another")
    roost.aws("register-certificate-without-ca", "--certificate-pem", other.uri)
    assert roost.aws("describe-certificate", "--certificate-id", other.certificate_id)[
        "certificateDescription"]["status"] == "INACTIVE"
    err = roost.aws_error("register-certificate-without-ca", "--certificate-pem", cert.uri)
    assert err.code == "ResourceAlreadyExistsException"


def test_a_malformed_certificate_pem_is_a_validation_error_naming_the_field(roost, work):
    bad = work / "bad.pem"
    bad.write_text("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n")
    before = certificate_ids(roost)
    for op in ("register-certificate", "register-certificate-without-ca"):
        err = roost.aws_error(op, "--certificate-pem", f"file://{bad}")
        assert err.code == "CertificateValidationException", err
        assert "certificatePem" in err.message
    err = roost.aws_error("register-certificate-without-ca", "--certificate-pem", "hello")
    assert err.code == "CertificateValidationException"
    assert certificate_ids(roost) == before


def test_create_keys_and_certificate_issues_a_real_certificate_from_the_issuing_ca(roost, work):
    out = roost.aws("create-keys-and-certificate", "--set-as-active")
    assert set(out) == {"certificateArn", "certificateId", "certificatePem", "keyPair"}
    assert out["certificateId"] == certs.fingerprint_id(out["certificatePem"], work)
    assert out["certificateArn"] == roost.arn("cert", out["certificateId"])
    assert "-----BEGIN PUBLIC KEY-----" in out["keyPair"]["PublicKey"]
    assert "-----BEGIN RSA PRIVATE KEY-----" in out["keyPair"]["PrivateKey"]

    issuer = roost.data_dir / "device-issuer-ca.pem"
    assert "OK" in certs.verify(out["certificatePem"], issuer, work, purpose="sslclient")
    text = certs.text(out["certificatePem"], work)
    assert "CN = AWS IoT Certificate" in text
    assert "Public-Key: (2048 bit)" in text
    assert "Not After : Dec 31 23:59:59 2049 GMT" in text

    # The private key belongs to the certificate.
    key = work / "issued.key"
    key.write_text(out["keyPair"]["PrivateKey"])
    from_key = certs.openssl("pkey", "-in", str(key), "-pubout", cwd=work)
    cert_file = work / "issued.pem"
    cert_file.write_text(out["certificatePem"])
    from_cert = certs.openssl("x509", "-in", str(cert_file), "-noout", "-pubkey", cwd=work)
    assert from_key == from_cert
    assert from_key.strip() == out["keyPair"]["PublicKey"].strip()

    described = roost.aws("describe-certificate", "--certificate-id", out["certificateId"])
    assert described["certificateDescription"]["status"] == "ACTIVE"
    assert "caCertificateId" not in described["certificateDescription"]

    inactive = roost.aws("create-keys-and-certificate")
    assert roost.aws("describe-certificate", "--certificate-id", inactive["certificateId"])[
        "certificateDescription"]["status"] == "INACTIVE"


@pytest.mark.parametrize("key", ["rsa:2048", "ec:{params}"])
def test_create_certificate_from_csr_signs_the_csr_with_the_issuing_ca(roost, work, key):
    if key.startswith("ec:"):
        params = work / "p256.pem"
        certs.openssl("ecparam", "-name", "prime256v1", "-out", str(params), cwd=work)
        key = f"ec:{params}"
    request = certs.csr(work, "device", "/C=DE/O=Roost Tests/CN=csr-device", key=key)
    out = roost.aws(
        "create-certificate-from-csr", "--certificate-signing-request", f"file://{request}",
        "--set-as-active",
    )
    assert set(out) == {"certificateArn", "certificateId", "certificatePem"}
    assert out["certificateId"] == certs.fingerprint_id(out["certificatePem"], work)
    issuer = roost.data_dir / "device-issuer-ca.pem"
    assert "OK" in certs.verify(out["certificatePem"], issuer, work, purpose="sslclient")
    text = certs.text(out["certificatePem"], work)
    assert "CN = csr-device" in text and "C = DE" in text
    # The certificate carries the CSR's key.
    csr_key = certs.openssl("req", "-in", str(request), "-noout", "-pubkey", cwd=work)
    cert_file = work / "from-csr.pem"
    cert_file.write_text(out["certificatePem"])
    assert certs.openssl("x509", "-in", str(cert_file), "-noout", "-pubkey", cwd=work) == csr_key
    assert roost.aws("describe-certificate", "--certificate-id", out["certificateId"])[
        "certificateDescription"]["status"] == "ACTIVE"

    # The same CSR again gives a new certificate.
    again = roost.aws("create-certificate-from-csr", "--certificate-signing-request", f"file://{request}")
    assert again["certificateId"] != out["certificateId"]
    assert roost.aws("describe-certificate", "--certificate-id", again["certificateId"])[
        "certificateDescription"]["status"] == "INACTIVE"


def test_a_malformed_or_weak_csr_is_invalid_and_registers_nothing(roost, work):
    before = certificate_ids(roost)
    bad = work / "bad.csr"
    bad.write_text("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n")
    weak = certs.csr(work, "weak", "/CN=weak", key="rsa:1024")
    for request in (bad, weak):
        err = roost.aws_error("create-certificate-from-csr", "--certificate-signing-request", f"file://{request}")
        assert err.code == "InvalidRequestException", err
        assert "certificateSigningRequest" in err.message
    assert certificate_ids(roost) == before


def test_list_certificates_shows_each_certificate_once_with_its_summary(roost, work):
    created = roost.aws("create-keys-and-certificate", "--set-as-active")
    listed = roost.aws("list-certificates")["certificates"]
    mine = [c for c in listed if c["certificateId"] == created["certificateId"]]
    assert len(mine) == 1
    assert mine[0]["certificateArn"] == created["certificateArn"]
    assert mine[0]["status"] == "ACTIVE"
    assert mine[0]["certificateMode"] == "DEFAULT"
    assert "creationDate" in mine[0]
    ids = [c["certificateId"] for c in listed]
    assert len(ids) == len(set(ids))


def test_update_certificate_moves_between_states_but_revoked_is_final(roost):
    cert_id = roost.aws("create-keys-and-certificate", "--set-as-active")["certificateId"]

    def status():
        return roost.aws("describe-certificate", "--certificate-id", cert_id)["certificateDescription"]["status"]

    assert roost.aws("update-certificate", "--certificate-id", cert_id, "--new-status", "INACTIVE") == {}
    assert status() == "INACTIVE"
    roost.aws("update-certificate", "--certificate-id", cert_id, "--new-status", "ACTIVE")
    roost.aws("update-certificate", "--certificate-id", cert_id, "--new-status", "ACTIVE")  # idempotent
    assert status() == "ACTIVE"

    for pending in ("PENDING_ACTIVATION", "PENDING_TRANSFER"):
        err = roost.aws_error("update-certificate", "--certificate-id", cert_id, "--new-status", pending)
        assert err.code == "InvalidRequestException"
    err = roost.aws_error("update-certificate", "--certificate-id", cert_id, "--new-status", "DELETED")
    assert err.code == "InvalidRequestException"
    assert "newStatus" in err.message
    assert status() == "ACTIVE"

    roost.aws("update-certificate", "--certificate-id", cert_id, "--new-status", "REVOKED")
    assert status() == "REVOKED"
    for target in ("ACTIVE", "INACTIVE"):
        err = roost.aws_error("update-certificate", "--certificate-id", cert_id, "--new-status", target)
        assert err.code == "CertificateStateException"
    assert status() == "REVOKED"

    err = roost.aws_error("update-certificate", "--certificate-id", "f" * 64, "--new-status", "ACTIVE")
    assert err.code == "ResourceNotFoundException"


def test_certificate_ids_outside_the_model_pattern_are_invalid(roost):
    for bad in ("g" * 64, "a" * 65, "0x" + "a" * 63):
        err = roost.aws_error("describe-certificate", "--certificate-id", bad)
        assert err.code == "InvalidRequestException", bad
        assert "certificateId" in err.message


def test_delete_certificate_follows_the_state_and_attachment_rules(roost, unique):
    cert = roost.aws("create-keys-and-certificate", "--set-as-active")
    cert_id, cert_arn = cert["certificateId"], cert["certificateArn"]
    thing, policy = unique("thing"), unique("policy")
    roost.aws("create-thing", "--thing-name", thing)
    roost.aws("create-policy", "--policy-name", policy, "--policy-document", POLICY)
    roost.aws("attach-thing-principal", "--thing-name", thing, "--principal", cert_arn)
    roost.aws("attach-policy", "--policy-name", policy, "--target", cert_arn)

    err = roost.aws_error("delete-certificate", "--certificate-id", cert_id)
    assert err.code == "CertificateStateException"
    roost.aws("update-certificate", "--certificate-id", cert_id, "--new-status", "INACTIVE")

    err = roost.aws_error("delete-certificate", "--certificate-id", cert_id, "--force-delete")
    assert err.code == "DeleteConflictException", "things attached: even --force-delete refuses"
    roost.aws("detach-thing-principal", "--thing-name", thing, "--principal", cert_arn)

    err = roost.aws_error("delete-certificate", "--certificate-id", cert_id)
    assert err.code == "DeleteConflictException", "a policy is attached"
    assert roost.aws("describe-certificate", "--certificate-id", cert_id)

    assert roost.aws("delete-certificate", "--certificate-id", cert_id, "--force-delete") == {}
    err = roost.aws_error("describe-certificate", "--certificate-id", cert_id)
    assert err.code == "ResourceNotFoundException"
    assert roost.aws("list-targets-for-policy", "--policy-name", policy)["targets"] == []
    err = roost.aws_error("delete-certificate", "--certificate-id", cert_id)
    assert err.code == "ResourceNotFoundException"


def test_a_revoked_certificate_without_attachments_is_deleted(roost):
    cert_id = roost.aws("create-keys-and-certificate")["certificateId"]
    roost.aws("update-certificate", "--certificate-id", cert_id, "--new-status", "REVOKED")
    assert roost.aws("delete-certificate", "--certificate-id", cert_id) == {}
    assert cert_id not in certificate_ids(roost)


def test_a_certificate_roost_issued_can_be_registered_again_after_deletion(roost, tmp_path):
    pem = tmp_path / "issued.pem"
    created = roost.aws("create-keys-and-certificate", "--certificate-pem-outfile", str(pem))
    cert_id = created["certificateId"]
    assert roost.aws("delete-certificate", "--certificate-id", cert_id) == {}
    again = roost.aws("register-certificate", "--certificate-pem", f"file://{pem}", "--set-as-active")
    assert again["certificateId"] == cert_id
    described = roost.aws("describe-certificate", "--certificate-id", cert_id)["certificateDescription"]
    assert described["status"] == "ACTIVE"
    assert described["certificateMode"] == "DEFAULT"
