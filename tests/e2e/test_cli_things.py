"""Things and thing types through the real AWS CLI."""

from __future__ import annotations

import json
import re

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def attrs(attributes: dict, merge: bool | None = None) -> str:
    payload = {"attributes": attributes}
    if merge is not None:
        payload["merge"] = merge
    return json.dumps(payload)


def thing_names(roost, *filters):
    return [t["thingName"] for t in roost.aws("list-things", *filters)["things"]]


def test_create_describe_and_delete_a_thing(roost, unique):
    name, kind, billing = unique("thing"), unique("type"), unique("billing")
    roost.aws("create-thing-type", "--thing-type-name", kind)
    roost.aws("create-billing-group", "--billing-group-name", billing)

    out = roost.aws(
        "create-thing", "--thing-name", name, "--thing-type-name", kind,
        "--attribute-payload", attrs({"serial": "SN-1", "model": "m1"}), "--billing-group-name", billing,
    )
    assert out["thingName"] == name
    assert out["thingArn"] == roost.arn("thing", name)
    assert UUID.match(out["thingId"])

    described = roost.aws("describe-thing", "--thing-name", name)
    assert described == {
        "defaultClientId": name,
        "thingName": name,
        "thingId": out["thingId"],
        "thingArn": roost.arn("thing", name),
        "thingTypeName": kind,
        "attributes": {"serial": "SN-1", "model": "m1"},
        "version": 1,
        "billingGroupName": billing,
    }

    assert roost.aws("delete-thing", "--thing-name", name) == {}
    err = roost.aws_error("describe-thing", "--thing-name", name)
    assert err.code == "ResourceNotFoundException"
    assert name in err.message
    # Deleting a thing that doesn't exist succeeds, as on AWS.
    assert roost.aws("delete-thing", "--thing-name", name) == {}


def test_create_thing_is_idempotent_for_the_same_configuration_only(roost, unique):
    name = unique("thing")
    first = roost.aws("create-thing", "--thing-name", name, "--attribute-payload", attrs({"a": "1"}))
    again = roost.aws("create-thing", "--thing-name", name, "--attribute-payload", attrs({"a": "1"}))
    assert again == first

    err = roost.aws_error("create-thing", "--thing-name", name, "--attribute-payload", attrs({"a": "2"}))
    assert err.code == "ResourceAlreadyExistsException"
    assert roost.aws("describe-thing", "--thing-name", name)["attributes"] == {"a": "1"}


def test_create_thing_refuses_unknown_or_deprecated_types_and_unknown_billing_groups(roost, unique):
    name, kind = unique("thing"), unique("type")
    err = roost.aws_error("create-thing", "--thing-name", name, "--thing-type-name", unique("none"))
    assert err.code == "ResourceNotFoundException"
    err = roost.aws_error("create-thing", "--thing-name", name, "--billing-group-name", unique("none"))
    assert err.code == "ResourceNotFoundException"

    roost.aws("create-thing-type", "--thing-type-name", kind)
    roost.aws("deprecate-thing-type", "--thing-type-name", kind)
    err = roost.aws_error("create-thing", "--thing-name", name, "--thing-type-name", kind)
    assert err.code == "InvalidRequestException"
    assert "deprecated" in err.message

    assert name not in thing_names(roost)


def test_a_thing_without_a_type_has_at_most_three_attributes(roost, unique):
    name, kind = unique("thing"), unique("type")
    four = {f"k{i}": "v" for i in range(4)}
    err = roost.aws_error("create-thing", "--thing-name", name, "--attribute-payload", attrs(four))
    assert err.code == "InvalidRequestException"
    roost.aws("create-thing-type", "--thing-type-name", kind)
    roost.aws("create-thing", "--thing-name", name, "--thing-type-name", kind, "--attribute-payload", attrs(four))
    assert len(roost.aws("describe-thing", "--thing-name", name)["attributes"]) == 4
    err = roost.aws_error("update-thing", "--thing-name", name, "--remove-thing-type")
    assert err.code == "InvalidRequestException", "removing the type would leave four attributes"


def test_update_thing_merges_or_replaces_attributes_and_counts_versions(roost, unique):
    name = unique("thing")
    roost.aws("create-thing", "--thing-name", name, "--attribute-payload", attrs({"a": "1", "b": "2"}))

    assert roost.aws(
        "update-thing", "--thing-name", name, "--attribute-payload", attrs({"c": "3", "a": ""}, merge=True)
    ) == {}
    thing = roost.aws("describe-thing", "--thing-name", name)
    assert thing["attributes"] == {"b": "2", "c": "3"}
    assert thing["version"] == 2

    roost.aws("update-thing", "--thing-name", name, "--attribute-payload", attrs({"z": "9"}))
    thing = roost.aws("describe-thing", "--thing-name", name)
    assert thing["attributes"] == {"z": "9"}
    assert thing["version"] == 3

    roost.aws("update-thing", "--thing-name", name, "--attribute-payload", attrs({"y": "8"}, merge=True),
              "--expected-version", "3")
    assert roost.aws("describe-thing", "--thing-name", name)["version"] == 4


def test_update_thing_with_a_stale_expected_version_is_a_version_conflict(roost, unique):
    name = unique("thing")
    roost.aws("create-thing", "--thing-name", name)
    roost.aws("update-thing", "--thing-name", name, "--attribute-payload", attrs({"a": "1"}))
    err = roost.aws_error(
        "update-thing", "--thing-name", name, "--attribute-payload", attrs({"a": "2"}), "--expected-version", "1"
    )
    assert err.code == "VersionConflictException"
    thing = roost.aws("describe-thing", "--thing-name", name)
    assert thing["attributes"] == {"a": "1"} and thing["version"] == 2

    err = roost.aws_error("delete-thing", "--thing-name", name, "--expected-version", "1")
    assert err.code == "VersionConflictException"
    assert roost.aws("delete-thing", "--thing-name", name, "--expected-version", "2") == {}


def test_update_thing_sets_and_removes_the_thing_type(roost, unique):
    name, kind = unique("thing"), unique("type")
    roost.aws("create-thing-type", "--thing-type-name", kind)
    roost.aws("create-thing", "--thing-name", name)
    roost.aws("update-thing", "--thing-name", name, "--thing-type-name", kind)
    assert roost.aws("describe-thing", "--thing-name", name)["thingTypeName"] == kind
    roost.aws("update-thing", "--thing-name", name, "--remove-thing-type")
    assert "thingTypeName" not in roost.aws("describe-thing", "--thing-name", name)

    err = roost.aws_error("update-thing", "--thing-name", name, "--thing-type-name", unique("none"))
    assert err.code == "ResourceNotFoundException"
    err = roost.aws_error("update-thing", "--thing-name", unique("none"), "--remove-thing-type")
    assert err.code == "ResourceNotFoundException"


def test_a_thing_with_an_attached_principal_cannot_be_deleted(roost, unique):
    name = unique("thing")
    roost.aws("create-thing", "--thing-name", name)
    cert = roost.aws("create-keys-and-certificate")
    roost.aws("attach-thing-principal", "--thing-name", name, "--principal", cert["certificateArn"])
    err = roost.aws_error("delete-thing", "--thing-name", name)
    assert err.code == "InvalidRequestException"
    assert roost.aws("describe-thing", "--thing-name", name)
    roost.aws("detach-thing-principal", "--thing-name", name, "--principal", cert["certificateArn"])
    assert roost.aws("delete-thing", "--thing-name", name) == {}


def test_list_things_filters_by_attribute_and_type(fresh_roost):
    roost = fresh_roost
    roost.aws("create-thing-type", "--thing-type-name", "sensor")
    roost.aws("create-thing", "--thing-name", "s1", "--thing-type-name", "sensor",
              "--attribute-payload", attrs({"site": "berlin-1", "floor": "2"}))
    roost.aws("create-thing", "--thing-name", "s2", "--thing-type-name", "sensor",
              "--attribute-payload", attrs({"site": "bern", "floor": "2"}))
    roost.aws("create-thing", "--thing-name", "g1", "--attribute-payload", attrs({"site": "berlin-2"}))
    roost.aws("create-thing", "--thing-name", "g2")

    everything = roost.aws("list-things")["things"]
    assert [t["thingName"] for t in everything] == ["g1", "g2", "s1", "s2"]
    s1 = next(t for t in everything if t["thingName"] == "s1")
    assert s1 == {
        "thingName": "s1",
        "thingTypeName": "sensor",
        "thingArn": roost.arn("thing", "s1"),
        "attributes": {"site": "berlin-1", "floor": "2"},
        "version": 1,
    }

    assert thing_names(roost, "--thing-type-name", "sensor") == ["s1", "s2"]
    assert thing_names(roost, "--attribute-name", "floor", "--attribute-value", "2") == ["s1", "s2"]
    assert thing_names(roost, "--attribute-name", "site", "--attribute-value", "berl") == []
    assert thing_names(
        roost, "--attribute-name", "site", "--attribute-value", "berl", "--use-prefix-attribute-value"
    ) == ["g1", "s1"]
    assert thing_names(
        roost, "--attribute-name", "site", "--attribute-value", "berlin-1", "--thing-type-name", "sensor"
    ) == ["s1"]
    assert thing_names(roost, "--attribute-name", "site") == ["g1", "s1", "s2"]
    assert thing_names(roost, "--thing-type-name", "nothing") == []


def test_thing_types_are_created_described_listed_deprecated_and_deleted(roost, unique):
    kind = unique("type")
    out = roost.aws(
        "create-thing-type", "--thing-type-name", kind,
        "--thing-type-properties", "thingTypeDescription=Light bulbs,searchableAttributes=wattage,model",
    )
    assert out["thingTypeName"] == kind
    assert out["thingTypeArn"] == roost.arn("thingtype", kind)
    assert UUID.match(out["thingTypeId"])
    assert roost.aws(
        "create-thing-type", "--thing-type-name", kind,
        "--thing-type-properties", "thingTypeDescription=Light bulbs,searchableAttributes=wattage,model",
    )["thingTypeId"] == out["thingTypeId"], "the same type again is idempotent"
    err = roost.aws_error("create-thing-type", "--thing-type-name", kind,
                          "--thing-type-properties", "thingTypeDescription=Other")
    assert err.code == "ResourceAlreadyExistsException"

    described = roost.aws("describe-thing-type", "--thing-type-name", kind)
    assert described["thingTypeName"] == kind
    assert described["thingTypeId"] == out["thingTypeId"]
    assert described["thingTypeArn"] == out["thingTypeArn"]
    assert described["thingTypeProperties"] == {
        "thingTypeDescription": "Light bulbs",
        "searchableAttributes": ["wattage", "model"],
    }
    assert described["thingTypeMetadata"]["deprecated"] is False
    assert "creationDate" in described["thingTypeMetadata"]
    assert "deprecationDate" not in described["thingTypeMetadata"]

    listed = roost.aws("list-thing-types", "--thing-type-name", kind)["thingTypes"]
    assert len(listed) == 1
    assert listed[0]["thingTypeName"] == kind
    assert listed[0]["thingTypeArn"] == out["thingTypeArn"]
    assert listed[0]["thingTypeProperties"]["thingTypeDescription"] == "Light bulbs"
    assert kind in [t["thingTypeName"] for t in roost.aws("list-thing-types")["thingTypes"]]

    err = roost.aws_error("delete-thing-type", "--thing-type-name", kind)
    assert err.code == "InvalidRequestException", "a type must be deprecated before deletion"

    assert roost.aws("deprecate-thing-type", "--thing-type-name", kind) == {}
    metadata = roost.aws("describe-thing-type", "--thing-type-name", kind)["thingTypeMetadata"]
    assert metadata["deprecated"] is True and "deprecationDate" in metadata
    roost.aws("deprecate-thing-type", "--thing-type-name", kind, "--undo-deprecate")
    metadata = roost.aws("describe-thing-type", "--thing-type-name", kind)["thingTypeMetadata"]
    assert metadata["deprecated"] is False and "deprecationDate" not in metadata

    thing = unique("thing")
    roost.aws("create-thing", "--thing-name", thing, "--thing-type-name", kind)
    roost.aws("deprecate-thing-type", "--thing-type-name", kind)
    err = roost.aws_error("delete-thing-type", "--thing-type-name", kind)
    assert err.code == "InvalidRequestException", "a thing still has the type"
    roost.aws("delete-thing", "--thing-name", thing)

    assert roost.aws("delete-thing-type", "--thing-type-name", kind) == {}
    err = roost.aws_error("describe-thing-type", "--thing-type-name", kind)
    assert err.code == "ResourceNotFoundException"
    assert roost.aws("list-thing-types", "--thing-type-name", kind)["thingTypes"] == []


def test_thing_type_operations_on_a_missing_type_are_not_found(roost, unique):
    missing = unique("none")
    for args in (
        ("describe-thing-type", "--thing-type-name", missing),
        ("deprecate-thing-type", "--thing-type-name", missing),
        ("delete-thing-type", "--thing-type-name", missing),
    ):
        assert roost.aws_error(*args).code == "ResourceNotFoundException", args


def test_a_thing_type_with_more_than_three_searchable_attributes_is_invalid(roost, unique):
    kind = unique("type")
    err = roost.aws_error("create-thing-type", "--thing-type-name", kind,
                          "--thing-type-properties", "searchableAttributes=a,b,c,d")
    assert err.code == "InvalidRequestException"
    assert "searchableAttributes" in err.message
    assert roost.aws_error("describe-thing-type", "--thing-type-name", kind).code == "ResourceNotFoundException"
