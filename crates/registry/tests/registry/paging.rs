//! Pagination: walking any list a page at a time gives the whole list once, in order, and a
//! token stays valid while other rows come and go.

use roost_registry::model::{CertificateStatus, ThingPrincipalType};
use roost_registry::{
    NameOrArn, NewThing, NewThingGroup, Page, PageRequest, ThingFilter, ThingGroupFilter,
};
use serde_json::json;

use crate::assert_err;
use crate::support::{Harness, certificate, policy_document};

const N: usize = 7;

/// The request for the page after `token`, at `limit` items per page.
fn next_request(token: &str, limit: u32, ascending: bool) -> PageRequest {
    PageRequest::from_api(
        Some(token),
        Some(i64::from(limit)),
        "maxResults",
        50,
        ascending,
    )
    .expect("our own token")
}

async fn world(h: &Harness) -> Vec<String> {
    h.create_thing_type("kind", json!({})).await.unwrap();
    h.create_thing_group(NewThingGroup {
        name: "top".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    h.create_billing_group("fleet", None).await.unwrap();
    let mut certs = Vec::new();
    for i in 0..N {
        let name = format!("thing{i}");
        h.create_thing(NewThing {
            name: name.clone(),
            type_name: Some("kind".into()),
            attributes: [("fleet".to_owned(), "f1".to_owned())]
                .into_iter()
                .collect(),
            billing_group: Some("fleet".into()),
        })
        .await
        .unwrap();
        h.create_thing_group(NewThingGroup {
            name: format!("group{i}"),
            parent: Some("top".into()),
            ..Default::default()
        })
        .await
        .unwrap();
        let thing = NameOrArn {
            name: Some(name.clone()),
            arn: None,
        };
        let group = NameOrArn {
            name: Some("group0".into()),
            arn: None,
        };
        h.add_thing_to_thing_group(&group, &thing).await.unwrap();
        h.create_policy(&format!("policy{i}"), &policy_document("iot:Connect"))
            .await
            .unwrap();
        h.create_billing_group(&format!("billing{i}"), None)
            .await
            .unwrap();
        h.create_thing_type(&format!("kind{i}"), json!({}))
            .await
            .unwrap();
        let cert = h
            .arns()
            .certificate(&certificate(h, CertificateStatus::Active).await);
        h.attach_thing_principal("thing0", &cert, ThingPrincipalType::NonExclusiveThing)
            .await
            .unwrap();
        h.attach_thing_principal(
            &name,
            &certs.first().cloned().unwrap_or(cert.clone()),
            ThingPrincipalType::NonExclusiveThing,
        )
        .await
        .unwrap();
        h.attach_policy("policy0", &cert).await.unwrap();
        certs.push(cert);
    }
    for i in 1..N.min(10) {
        h.attach_policy(&format!("policy{i}"), &certs[0])
            .await
            .unwrap();
    }
    certs
}

/// Lists everything at once, then page by page at 1, 2 and 3 items per page following the
/// tokens, and asserts the pages add up to the whole list, in order, without duplicates.
macro_rules! assert_pages_to_whole {
    ($h:expr, $ascending:expr, |$page:ident| $fetch:expr, $key:expr) => {{
        let whole = {
            let $page = PageRequest {
                after: None,
                limit: 250,
                ascending: $ascending,
            };
            $fetch.await.unwrap()
        };
        assert!(whole.next.is_none());
        assert!(whole.items.len() >= N, "{} items", whole.items.len());
        let whole: Vec<String> = whole.items.iter().map($key).collect();
        let mut unique = whole.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), whole.len(), "no duplicates");
        for limit in [1, 2, 3] {
            let mut paged: Vec<String> = Vec::new();
            let mut $page = PageRequest {
                after: None,
                limit,
                ascending: $ascending,
            };
            for _ in 0..=whole.len() {
                let page: Page<_> = $fetch.await.unwrap();
                assert!(page.items.len() <= limit as usize);
                paged.extend(page.items.iter().map($key));
                match page.next {
                    Some(token) => $page = next_request(&token, limit, $ascending),
                    None => break,
                }
            }
            assert_eq!(paged, whole, "at {limit} per page");
        }
    }};
}

#[tokio::test]
async fn every_list_pages_to_the_whole_list() {
    let h = Harness::new().await;
    let certs = world(&h).await;
    let cert0 = certs[0].clone();
    let all = ThingFilter::default();
    let by_attribute = ThingFilter {
        attribute_name: Some("fleet".into()),
        attribute_value: Some("f1".into()),
        ..Default::default()
    };
    let by_type = ThingFilter {
        type_name: Some("kind".into()),
        ..Default::default()
    };
    let children = ThingGroupFilter {
        parent: Some("top".into()),
        ..Default::default()
    };
    let every_group = ThingGroupFilter::default();

    assert_pages_to_whole!(h, true, |p| h.list_things(&all, &p), |t| t.name.clone());
    assert_pages_to_whole!(h, true, |p| h.list_things(&by_attribute, &p), |t| t
        .name
        .clone());
    assert_pages_to_whole!(h, true, |p| h.list_things(&by_type, &p), |t| t.name.clone());
    assert_pages_to_whole!(h, true, |p| h.list_thing_types(None, &p), |t| t
        .name
        .clone());
    assert_pages_to_whole!(h, true, |p| h.list_thing_groups(&every_group, &p), |g| g
        .name
        .clone());
    assert_pages_to_whole!(h, true, |p| h.list_thing_groups(&children, &p), |g| g
        .name
        .clone());
    assert_pages_to_whole!(
        h,
        true,
        |p| h.list_things_in_thing_group("group0", false, &p),
        Clone::clone
    );
    assert_pages_to_whole!(
        h,
        true,
        |p| h.list_things_in_thing_group("top", true, &p),
        Clone::clone
    );
    assert_pages_to_whole!(h, true, |p| h.list_billing_groups(None, &p), |g| g
        .name
        .clone());
    assert_pages_to_whole!(
        h,
        true,
        |p| h.list_things_in_billing_group("fleet", &p),
        Clone::clone
    );
    assert_pages_to_whole!(h, true, |p| h.list_policies(&p), |x| x.name.clone());
    assert_pages_to_whole!(h, false, |p| h.list_policies(&p), |x| x.name.clone());
    assert_pages_to_whole!(
        h,
        true,
        |p| h.list_attached_policies(&cert0, false, &p),
        |x| x.name.clone()
    );
    assert_pages_to_whole!(
        h,
        true,
        |p| h.list_targets_for_policy("policy0", false, &p),
        Clone::clone
    );
    assert_pages_to_whole!(h, true, |p| h.list_certificates(&p), |c| c.id.clone());
    assert_pages_to_whole!(h, false, |p| h.list_certificates(&p), |c| c.id.clone());
    assert_pages_to_whole!(
        h,
        true,
        |p| h.list_thing_principals("thing0", None, &p),
        |x| x.principal.clone()
    );
    assert_pages_to_whole!(
        h,
        true,
        |p| h.list_principal_things(&cert0, None, &p),
        |x| x.thing_name.clone()
    );
}

#[tokio::test]
async fn certificates_list_newest_first_unless_ascending() {
    let h = Harness::new().await;
    let mut made = Vec::new();
    for _ in 0..4 {
        made.push(certificate(&h, CertificateStatus::Active).await);
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    let ids = |ascending: bool| {
        let h = &h;
        async move {
            h.list_certificates(&PageRequest {
                after: None,
                limit: 10,
                ascending,
            })
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|c| c.id)
            .collect::<Vec<_>>()
        }
    };
    assert_eq!(ids(true).await, made);
    made.reverse();
    assert_eq!(ids(false).await, made);
}

#[tokio::test]
async fn a_token_stays_valid_while_rows_are_added_and_removed() {
    let h = Harness::new().await;
    for name in ["b", "d", "f"] {
        h.create_thing(NewThing {
            name: name.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    let first = h
        .list_things(&ThingFilter::default(), &PageRequest::first(1))
        .await
        .unwrap();
    assert_eq!(first.items[0].name, "b");
    let token = first.next.unwrap();
    h.delete_thing("b", None).await.unwrap();
    for name in ["a", "c"] {
        h.create_thing(NewThing {
            name: name.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    let rest = h
        .list_things(
            &ThingFilter::default(),
            &PageRequest::from_api(Some(&token), Some(10), "maxResults", 50, true).unwrap(),
        )
        .await
        .unwrap();
    let names: Vec<_> = rest.items.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["c", "d", "f"]);
}

#[tokio::test]
async fn tokens_that_decode_to_control_characters_were_not_issued_here() {
    for token in ["00", "610062", "0a"] {
        let message = assert_err!(
            PageRequest::from_api(Some(token), None, "maxResults", 50, true),
            InvalidRequest
        );
        assert!(message.starts_with("nextToken"), "{message}");
    }
}

#[tokio::test]
async fn name_prefix_filters_outside_the_model_are_refused() {
    let h = Harness::new().await;
    let message = assert_err!(
        h.list_billing_groups(Some("a b"), &PageRequest::first(10))
            .await,
        InvalidRequest
    );
    assert!(message.contains("namePrefixFilter"), "{message}");
    let message = assert_err!(
        h.list_thing_groups(
            &ThingGroupFilter {
                name_prefix: Some("nul\0".into()),
                ..Default::default()
            },
            &PageRequest::first(10)
        )
        .await,
        InvalidRequest
    );
    assert!(message.contains("namePrefixFilter"), "{message}");
    let message = assert_err!(
        h.list_ca_certificates(Some("bad name"), &PageRequest::first(10))
            .await,
        InvalidRequest
    );
    assert!(message.contains("templateName"), "{message}");
}

#[tokio::test]
async fn a_token_of_another_list_is_refused_by_the_certificate_lists() {
    let h = Harness::new().await;
    certificate(&h, CertificateStatus::Active).await;
    certificate(&h, CertificateStatus::Active).await;
    for name in ["a", "b"] {
        h.create_thing(NewThing {
            name: name.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    let token = h
        .list_things(&ThingFilter::default(), &PageRequest::first(1))
        .await
        .unwrap()
        .next
        .unwrap();
    let request = PageRequest::from_api(Some(&token), Some(1), "pageSize", 25, true).unwrap();
    let message = assert_err!(h.list_certificates(&request).await, InvalidRequest);
    assert!(message.contains("marker"), "{message}");
}
