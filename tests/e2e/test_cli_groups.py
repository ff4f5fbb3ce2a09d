"""Thing groups and billing groups through the real AWS CLI."""

from __future__ import annotations

import re

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def group_names(listing):
    return [g["groupName"] for g in listing["thingGroups"]]


def test_thing_groups_are_created_with_parents_and_attributes_and_described(roost, unique):
    root, child, grandchild = unique("root"), unique("child"), unique("grandchild")
    out = roost.aws(
        "create-thing-group", "--thing-group-name", root,
        "--thing-group-properties", "thingGroupDescription=All devices,attributePayload={attributes={site=berlin}}",
    )
    assert out["thingGroupName"] == root
    assert out["thingGroupArn"] == roost.arn("thinggroup", root)
    assert UUID.match(out["thingGroupId"])
    roost.aws("create-thing-group", "--thing-group-name", child, "--parent-group-name", root)
    roost.aws("create-thing-group", "--thing-group-name", grandchild, "--parent-group-name", child)

    described = roost.aws("describe-thing-group", "--thing-group-name", root)
    assert described["thingGroupName"] == root
    assert described["thingGroupId"] == out["thingGroupId"]
    assert described["thingGroupArn"] == out["thingGroupArn"]
    assert described["version"] == 1
    assert described["thingGroupProperties"] == {
        "thingGroupDescription": "All devices",
        "attributePayload": {"attributes": {"site": "berlin"}},
    }
    assert "parentGroupName" not in described["thingGroupMetadata"]
    assert "creationDate" in described["thingGroupMetadata"]

    deepest = roost.aws("describe-thing-group", "--thing-group-name", grandchild)
    assert deepest["thingGroupMetadata"]["parentGroupName"] == child
    assert deepest["thingGroupMetadata"]["rootToParentThingGroups"] == [
        {"groupName": root, "groupArn": roost.arn("thinggroup", root)},
        {"groupName": child, "groupArn": roost.arn("thinggroup", child)},
    ]


def test_create_thing_group_is_idempotent_and_checks_its_parent(roost, unique):
    name = unique("group")
    first = roost.aws("create-thing-group", "--thing-group-name", name,
                      "--thing-group-properties", "thingGroupDescription=same")
    again = roost.aws("create-thing-group", "--thing-group-name", name,
                      "--thing-group-properties", "thingGroupDescription=same")
    assert again == first
    err = roost.aws_error("create-thing-group", "--thing-group-name", name,
                          "--thing-group-properties", "thingGroupDescription=different")
    assert err.code == "ResourceAlreadyExistsException"

    orphan = unique("orphan")
    err = roost.aws_error("create-thing-group", "--thing-group-name", orphan, "--parent-group-name", unique("none"))
    assert err.code == "ResourceNotFoundException"
    assert roost.aws_error("describe-thing-group", "--thing-group-name", orphan).code == "ResourceNotFoundException"


def test_update_thing_group_counts_versions_and_checks_the_expected_one(roost, unique):
    name = unique("group")
    roost.aws("create-thing-group", "--thing-group-name", name,
              "--thing-group-properties", "attributePayload={attributes={a=1,b=2}}")
    out = roost.aws("update-thing-group", "--thing-group-name", name, "--thing-group-properties",
                    "thingGroupDescription=Updated,attributePayload={attributes={c=3},merge=true}")
    assert out == {"version": 2}
    props = roost.aws("describe-thing-group", "--thing-group-name", name)["thingGroupProperties"]
    assert props == {
        "thingGroupDescription": "Updated",
        "attributePayload": {"attributes": {"a": "1", "b": "2", "c": "3"}},
    }

    err = roost.aws_error("update-thing-group", "--thing-group-name", name, "--expected-version", "1",
                          "--thing-group-properties", "thingGroupDescription=Stale")
    assert err.code == "VersionConflictException"
    assert roost.aws("update-thing-group", "--thing-group-name", name, "--expected-version", "2",
                     "--thing-group-properties", "attributePayload={attributes={z=26}}") == {"version": 3}
    props = roost.aws("describe-thing-group", "--thing-group-name", name)["thingGroupProperties"]
    assert props["attributePayload"]["attributes"] == {"z": "26"}

    err = roost.aws_error("update-thing-group", "--thing-group-name", unique("none"),
                          "--thing-group-properties", "thingGroupDescription=x")
    assert err.code == "ResourceNotFoundException"


def test_a_thing_group_with_children_cannot_be_deleted(roost, unique):
    parent, child = unique("parent"), unique("child")
    roost.aws("create-thing-group", "--thing-group-name", parent)
    roost.aws("create-thing-group", "--thing-group-name", child, "--parent-group-name", parent)
    err = roost.aws_error("delete-thing-group", "--thing-group-name", parent)
    assert err.code == "InvalidRequestException"
    err = roost.aws_error("delete-thing-group", "--thing-group-name", child, "--expected-version", "7")
    assert err.code == "VersionConflictException"
    assert roost.aws("delete-thing-group", "--thing-group-name", child, "--expected-version", "1") == {}
    assert roost.aws("delete-thing-group", "--thing-group-name", parent) == {}
    assert roost.aws("delete-thing-group", "--thing-group-name", parent) == {}, "a missing group is fine"
    assert roost.aws_error("describe-thing-group", "--thing-group-name", parent).code == "ResourceNotFoundException"


def test_list_thing_groups_filters_by_parent_prefix_and_recursion(fresh_roost):
    roost = fresh_roost
    roost.aws("create-thing-group", "--thing-group-name", "eu")
    roost.aws("create-thing-group", "--thing-group-name", "eu-de", "--parent-group-name", "eu")
    roost.aws("create-thing-group", "--thing-group-name", "eu-de-berlin", "--parent-group-name", "eu-de")
    roost.aws("create-thing-group", "--thing-group-name", "us")

    everything = roost.aws("list-thing-groups")
    assert group_names(everything) == ["eu", "eu-de", "eu-de-berlin", "us"]
    assert everything["thingGroups"][0] == {"groupName": "eu", "groupArn": roost.arn("thinggroup", "eu")}
    assert group_names(roost.aws("list-thing-groups", "--parent-group", "eu")) == ["eu-de"]
    assert group_names(roost.aws("list-thing-groups", "--parent-group", "eu", "--recursive")) == [
        "eu-de", "eu-de-berlin"]
    assert group_names(roost.aws("list-thing-groups", "--name-prefix-filter", "eu-")) == ["eu-de", "eu-de-berlin"]
    err = roost.aws_error("list-thing-groups", "--parent-group", "nowhere")
    assert err.code == "ResourceNotFoundException"


def test_things_join_and_leave_thing_groups_by_name_or_arn(roost, unique):
    parent, child = unique("parent"), unique("child")
    thing_a, thing_b = unique("a"), unique("b")
    roost.aws("create-thing-group", "--thing-group-name", parent)
    roost.aws("create-thing-group", "--thing-group-name", child, "--parent-group-name", parent)
    roost.aws("create-thing", "--thing-name", thing_a)
    roost.aws("create-thing", "--thing-name", thing_b)

    assert roost.aws("add-thing-to-thing-group", "--thing-group-name", parent, "--thing-name", thing_a) == {}
    roost.aws("add-thing-to-thing-group", "--thing-group-arn", roost.arn("thinggroup", child),
              "--thing-arn", roost.arn("thing", thing_b))
    roost.aws("add-thing-to-thing-group", "--thing-group-name", child, "--thing-name", thing_a)
    roost.aws("add-thing-to-thing-group", "--thing-group-name", child, "--thing-name", thing_a)  # again: no-op

    assert roost.aws("list-things-in-thing-group", "--thing-group-name", parent)["things"] == [thing_a]
    assert roost.aws("list-things-in-thing-group", "--thing-group-name", child)["things"] == sorted(
        [thing_a, thing_b])
    assert roost.aws("list-things-in-thing-group", "--thing-group-name", parent, "--recursive")[
        "things"] == sorted([thing_a, thing_b])
    groups = roost.aws("list-thing-groups-for-thing", "--thing-name", thing_a)["thingGroups"]
    assert sorted(groups, key=lambda g: g["groupName"]) == sorted([
        {"groupName": parent, "groupArn": roost.arn("thinggroup", parent)},
        {"groupName": child, "groupArn": roost.arn("thinggroup", child)},
    ], key=lambda g: g["groupName"])

    assert roost.aws("remove-thing-from-thing-group", "--thing-group-name", child, "--thing-name", thing_a) == {}
    assert roost.aws("list-things-in-thing-group", "--thing-group-name", child)["things"] == [thing_b]
    assert group_names(roost.aws("list-thing-groups-for-thing", "--thing-name", thing_a)) == [parent]

    # Deleting a thing takes it out of its groups.
    roost.aws("delete-thing", "--thing-name", thing_b)
    assert roost.aws("list-things-in-thing-group", "--thing-group-name", child)["things"] == []


def test_group_membership_of_missing_things_or_groups_is_not_found(roost, unique):
    group, thing = unique("group"), unique("thing")
    roost.aws("create-thing-group", "--thing-group-name", group)
    roost.aws("create-thing", "--thing-name", thing)
    for args in (
        ("add-thing-to-thing-group", "--thing-group-name", group, "--thing-name", unique("none")),
        ("add-thing-to-thing-group", "--thing-group-name", unique("none"), "--thing-name", thing),
        ("remove-thing-from-thing-group", "--thing-group-name", unique("none"), "--thing-name", thing),
        ("list-things-in-thing-group", "--thing-group-name", unique("none")),
        ("list-thing-groups-for-thing", "--thing-name", unique("none")),
    ):
        assert roost.aws_error(*args).code == "ResourceNotFoundException", args
    err = roost.aws_error("add-thing-to-thing-group", "--thing-name", thing)
    assert err.code == "InvalidRequestException"
    assert "thingGroup" in err.message
    err = roost.aws_error("add-thing-to-thing-group", "--thing-group-arn", roost.arn("thing", thing),
                          "--thing-name", thing)
    assert err.code == "InvalidRequestException"
    assert "thingGroupArn" in err.message


def test_a_thing_is_in_at_most_ten_thing_groups(roost, unique):
    thing = unique("thing")
    roost.aws("create-thing", "--thing-name", thing)
    iot = roost.client()
    groups = [unique("g") for _ in range(11)]
    for group in groups:
        iot.create_thing_group(thingGroupName=group)
    for group in groups[:10]:
        iot.add_thing_to_thing_group(thingGroupName=group, thingName=thing)
    err = roost.aws_error("add-thing-to-thing-group", "--thing-group-name", groups[10], "--thing-name", thing)
    assert err.code == "InvalidRequestException"
    assert len(roost.aws("list-thing-groups-for-thing", "--thing-name", thing)["thingGroups"]) == 10


def test_billing_groups_are_created_described_updated_listed_and_deleted(roost, unique):
    name = unique("billing")
    out = roost.aws("create-billing-group", "--billing-group-name", name,
                    "--billing-group-properties", "billingGroupDescription=Fleet A")
    assert out["billingGroupName"] == name
    assert out["billingGroupArn"] == roost.arn("billinggroup", name)
    assert UUID.match(out["billingGroupId"])
    assert roost.aws("create-billing-group", "--billing-group-name", name,
                     "--billing-group-properties", "billingGroupDescription=Fleet A") == out
    err = roost.aws_error("create-billing-group", "--billing-group-name", name,
                          "--billing-group-properties", "billingGroupDescription=Fleet B")
    assert err.code == "ResourceAlreadyExistsException"

    described = roost.aws("describe-billing-group", "--billing-group-name", name)
    assert described["billingGroupName"] == name
    assert described["billingGroupId"] == out["billingGroupId"]
    assert described["billingGroupArn"] == out["billingGroupArn"]
    assert described["version"] == 1
    assert described["billingGroupProperties"] == {"billingGroupDescription": "Fleet A"}
    assert "creationDate" in described["billingGroupMetadata"]

    assert roost.aws("update-billing-group", "--billing-group-name", name,
                     "--billing-group-properties", "billingGroupDescription=Fleet A2") == {"version": 2}
    err = roost.aws_error("update-billing-group", "--billing-group-name", name, "--expected-version", "1",
                          "--billing-group-properties", "billingGroupDescription=stale")
    assert err.code == "VersionConflictException"
    described = roost.aws("describe-billing-group", "--billing-group-name", name)
    assert described["billingGroupProperties"] == {"billingGroupDescription": "Fleet A2"}
    assert described["version"] == 2

    listed = roost.aws("list-billing-groups")["billingGroups"]
    assert {"groupName": name, "groupArn": roost.arn("billinggroup", name)} in listed
    prefix = name[: len(name) - 2]
    assert [g["groupName"] for g in roost.aws("list-billing-groups", "--name-prefix-filter", name)[
        "billingGroups"]] == [name]
    assert name in [g["groupName"] for g in roost.aws("list-billing-groups", "--name-prefix-filter", prefix)[
        "billingGroups"]]

    err = roost.aws_error("delete-billing-group", "--billing-group-name", name, "--expected-version", "1")
    assert err.code == "VersionConflictException"
    assert roost.aws("delete-billing-group", "--billing-group-name", name) == {}
    assert roost.aws_error("describe-billing-group", "--billing-group-name", name).code == "ResourceNotFoundException"
    assert roost.aws("delete-billing-group", "--billing-group-name", name) == {}


def test_a_thing_is_in_at_most_one_billing_group(roost, unique):
    first, second, thing = unique("first"), unique("second"), unique("thing")
    roost.aws("create-billing-group", "--billing-group-name", first)
    roost.aws("create-billing-group", "--billing-group-name", second)
    roost.aws("create-thing", "--thing-name", thing)

    assert roost.aws("add-thing-to-billing-group", "--billing-group-name", first, "--thing-name", thing) == {}
    assert roost.aws("describe-thing", "--thing-name", thing)["billingGroupName"] == first
    assert roost.aws("list-things-in-billing-group", "--billing-group-name", first)["things"] == [thing]

    roost.aws("add-thing-to-billing-group", "--billing-group-arn", roost.arn("billinggroup", second),
              "--thing-arn", roost.arn("thing", thing))
    assert roost.aws("describe-thing", "--thing-name", thing)["billingGroupName"] == second
    assert roost.aws("list-things-in-billing-group", "--billing-group-name", first)["things"] == []
    assert roost.aws("list-things-in-billing-group", "--billing-group-name", second)["things"] == [thing]

    assert roost.aws("remove-thing-from-billing-group", "--billing-group-name", second,
                     "--thing-name", thing) == {}
    assert "billingGroupName" not in roost.aws("describe-thing", "--thing-name", thing)
    assert roost.aws("list-things-in-billing-group", "--billing-group-name", second)["things"] == []

    for args in (
        ("add-thing-to-billing-group", "--billing-group-name", unique("none"), "--thing-name", thing),
        ("add-thing-to-billing-group", "--billing-group-name", first, "--thing-name", unique("none")),
        ("list-things-in-billing-group", "--billing-group-name", unique("none")),
        ("describe-billing-group", "--billing-group-name", unique("none")),
    ):
        assert roost.aws_error(*args).code == "ResourceNotFoundException", args


def test_deleting_a_billing_group_takes_its_things_out(roost, unique):
    group, thing = unique("billing"), unique("thing")
    roost.aws("create-billing-group", "--billing-group-name", group)
    roost.aws("create-thing", "--thing-name", thing, "--billing-group-name", group)
    assert roost.aws("describe-thing", "--thing-name", thing)["billingGroupName"] == group
    roost.aws("delete-billing-group", "--billing-group-name", group)
    assert "billingGroupName" not in roost.aws("describe-thing", "--thing-name", thing)
