"""Thing principals (certificates attached to things) through the real AWS CLI."""

from __future__ import annotations


def test_a_certificate_is_attached_to_a_thing_and_listed_both_ways(roost, unique):
    thing = unique("thing")
    roost.aws("create-thing", "--thing-name", thing)
    cert_arn = roost.aws("create-keys-and-certificate", "--set-as-active")["certificateArn"]

    assert roost.aws("attach-thing-principal", "--thing-name", thing, "--principal", cert_arn) == {}
    roost.aws("attach-thing-principal", "--thing-name", thing, "--principal", cert_arn)  # again: no-op

    assert roost.aws("list-thing-principals", "--thing-name", thing)["principals"] == [cert_arn]
    assert roost.aws("list-principal-things", "--principal", cert_arn)["things"] == [thing]
    assert roost.aws("list-thing-principals-v2", "--thing-name", thing)["thingPrincipalObjects"] == [
        {"principal": cert_arn, "thingPrincipalType": "NON_EXCLUSIVE_THING"}]
    assert roost.aws("list-principal-things-v2", "--principal", cert_arn)["principalThingObjects"] == [
        {"thingName": thing, "thingPrincipalType": "NON_EXCLUSIVE_THING"}]

    assert roost.aws("detach-thing-principal", "--thing-name", thing, "--principal", cert_arn) == {}
    assert roost.aws("list-thing-principals", "--thing-name", thing)["principals"] == []
    assert roost.aws("list-principal-things", "--principal", cert_arn)["things"] == []
    assert roost.aws("detach-thing-principal", "--thing-name", thing, "--principal", cert_arn) == {}


def test_a_non_exclusive_certificate_may_belong_to_several_things(roost, unique):
    one, two = unique("one"), unique("two")
    for thing in (one, two):
        roost.aws("create-thing", "--thing-name", thing)
    cert_arn = roost.aws("create-keys-and-certificate")["certificateArn"]
    roost.aws("attach-thing-principal", "--thing-name", one, "--principal", cert_arn)
    roost.aws("attach-thing-principal", "--thing-name", two, "--principal", cert_arn,
              "--thing-principal-type", "NON_EXCLUSIVE_THING")
    assert roost.aws("list-principal-things", "--principal", cert_arn)["things"] == sorted([one, two])


def test_an_exclusive_attachment_keeps_the_certificate_to_one_thing(roost, unique):
    one, two = unique("one"), unique("two")
    for thing in (one, two):
        roost.aws("create-thing", "--thing-name", thing)
    exclusive = roost.aws("create-keys-and-certificate")["certificateArn"]
    shared = roost.aws("create-keys-and-certificate")["certificateArn"]

    roost.aws("attach-thing-principal", "--thing-name", one, "--principal", exclusive,
              "--thing-principal-type", "EXCLUSIVE_THING")
    err = roost.aws_error("attach-thing-principal", "--thing-name", two, "--principal", exclusive)
    assert err.code == "InvalidRequestException"
    assert roost.aws("list-principal-things", "--principal", exclusive)["things"] == [one]

    roost.aws("attach-thing-principal", "--thing-name", one, "--principal", shared)
    roost.aws("attach-thing-principal", "--thing-name", two, "--principal", shared)
    err = roost.aws_error("attach-thing-principal", "--thing-name", one, "--principal", shared,
                          "--thing-principal-type", "EXCLUSIVE_THING")
    assert err.code == "InvalidRequestException", "already attached to another thing"

    v2 = roost.aws("list-thing-principals-v2", "--thing-name", one)["thingPrincipalObjects"]
    assert sorted(v2, key=lambda o: o["principal"]) == sorted([
        {"principal": exclusive, "thingPrincipalType": "EXCLUSIVE_THING"},
        {"principal": shared, "thingPrincipalType": "NON_EXCLUSIVE_THING"},
    ], key=lambda o: o["principal"])
    only = roost.aws("list-thing-principals-v2", "--thing-name", one, "--thing-principal-type", "EXCLUSIVE_THING")
    assert only["thingPrincipalObjects"] == [{"principal": exclusive, "thingPrincipalType": "EXCLUSIVE_THING"}]
    things = roost.aws("list-principal-things-v2", "--principal", shared,
                       "--thing-principal-type", "NON_EXCLUSIVE_THING")["principalThingObjects"]
    assert sorted(t["thingName"] for t in things) == sorted([one, two])

    roost.aws("detach-thing-principal", "--thing-name", one, "--principal", exclusive)
    roost.aws("attach-thing-principal", "--thing-name", two, "--principal", exclusive)
    assert roost.aws("list-principal-things", "--principal", exclusive)["things"] == [two]


def test_principal_operations_on_missing_things_or_certificates_fail(roost, unique):
    thing = unique("thing")
    roost.aws("create-thing", "--thing-name", thing)
    cert_arn = roost.aws("create-keys-and-certificate")["certificateArn"]
    missing_cert = roost.arn("cert", "d" * 64)

    err = roost.aws_error("list-thing-principals", "--thing-name", unique("none"))
    assert err.code == "ResourceNotFoundException"
    assert "does not exist" in err.message
    for args in (
        ("attach-thing-principal", "--thing-name", unique("none"), "--principal", cert_arn),
        ("attach-thing-principal", "--thing-name", thing, "--principal", missing_cert),
        ("detach-thing-principal", "--thing-name", unique("none"), "--principal", cert_arn),
        ("list-thing-principals-v2", "--thing-name", unique("none")),
        ("list-principal-things", "--principal", missing_cert),
        ("list-principal-things-v2", "--principal", missing_cert),
    ):
        assert roost.aws_error(*args).code == "ResourceNotFoundException", args

    err = roost.aws_error("attach-thing-principal", "--thing-name", thing, "--principal", "not-an-arn")
    assert err.code == "InvalidRequestException"
    assert "principal" in err.message
    err = roost.aws_error("attach-thing-principal", "--thing-name", thing, "--principal", cert_arn,
                          "--thing-principal-type", "SOMETIMES")
    assert err.code == "InvalidRequestException"
    assert "thingPrincipalType" in err.message
    assert roost.aws("list-thing-principals", "--thing-name", thing)["principals"] == []
