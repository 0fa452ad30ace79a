//! Contacts: Xero's unique-name rule and the lookups the processor uses.

use serde_json::json;

use crate::helpers::start;

#[tokio::test]
async fn a_second_active_contact_with_the_same_name_is_refused_with_xeros_message() {
    let t = start();
    t.put(
        "/Contacts",
        &json!({"Contacts": [{"Name": "Jane Buyer", "EmailAddress": "jane@example.com"}]}),
    )
    .await;

    let duplicate = t
        .put("/Contacts", &json!({"Contacts": [{"Name": "Jane Buyer"}]}))
        .await;

    assert_eq!(duplicate.status, 400);
    assert_eq!(
        duplicate.first_error(),
        Some(
            "The contact name Jane Buyer is already assigned to another contact. The contact name must be unique across all active contacts."
        )
    );
}

#[tokio::test]
async fn contacts_are_found_by_email_number_name_and_search_term() {
    // Arrange
    let t = start();
    let created = t
        .put(
            "/Contacts",
            &json!({"Contacts": [{"Name": "Sam Shopper", "EmailAddress": "sam@example.com",
                                  "ContactNumber": "shopify:42"}]}),
        )
        .await;
    let id = created.json["Contacts"][0]["ContactID"]
        .as_str()
        .unwrap()
        .to_owned();

    // Act
    let by_email = t
        .get("/Contacts?where=EmailAddress%3D%3D%22sam%40example.com%22")
        .await;
    let by_number = t
        .get("/Contacts?where=ContactNumber%3D%3D%22shopify%3A42%22")
        .await;
    let by_name = t.get("/Contacts?where=Name%3D%3D%22Sam%20Shopper%22").await;
    let by_search = t.get("/Contacts?searchTerm=shopper").await;
    let by_id = t.get(&format!("/Contacts/{id}")).await;
    let by_ids = t.get(&format!("/Contacts?IDs={id}")).await;

    // Assert
    for answer in [by_email, by_number, by_name, by_search, by_id, by_ids] {
        let list = answer.json["Contacts"].as_array().unwrap();
        assert_eq!(list.len(), 1, "{}", answer.text);
        assert_eq!(list[0]["ContactID"], id.as_str());
    }
}

#[tokio::test]
async fn archived_contacts_are_hidden_unless_asked_for_and_free_their_name() {
    let t = start();
    let created = t
        .put("/Contacts", &json!({"Contacts": [{"Name": "Old Shop"}]}))
        .await;
    let id = created.json["Contacts"][0]["ContactID"]
        .as_str()
        .unwrap()
        .to_owned();

    let archived = t
        .post(
            &format!("/Contacts/{id}"),
            &json!({"Contacts": [{"ContactStatus": "ARCHIVED"}]}),
        )
        .await;
    let listed = t.get("/Contacts?where=Name%3D%3D%22Old%20Shop%22").await;
    let with_archived = t
        .get("/Contacts?includeArchived=true&where=Name%3D%3D%22Old%20Shop%22")
        .await;
    let reused = t
        .put("/Contacts", &json!({"Contacts": [{"Name": "Old Shop"}]}))
        .await;

    assert_eq!(archived.json["Contacts"][0]["ContactStatus"], "ARCHIVED");
    assert!(listed.json["Contacts"].as_array().unwrap().is_empty());
    assert_eq!(with_archived.json["Contacts"].as_array().unwrap().len(), 1);
    assert_eq!(reused.status, 200);
}

#[tokio::test]
async fn items_need_a_unique_code_and_accounts_filter_by_where() {
    let t = start();

    let duplicate = t
        .put(
            "/Items",
            &json!({"Items": [{"Code": "SKU-1", "Name": "Again"}]}),
        )
        .await;
    let banks = t
        .get("/Accounts?where=Status%3D%3D%22ACTIVE%22%20AND%20Type%3D%3D%22BANK%22")
        .await;
    let sales = t.get("/Accounts?where=Code%3D%3D%22200%22").await;
    let rates = t.get("/TaxRates?where=TaxType%3D%3D%22OUTPUT2%22").await;

    assert_eq!(
        duplicate.first_error(),
        Some("Item code 'SKU-1' already exists.")
    );
    let codes: Vec<&str> = banks.json["Accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["Code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, vec!["090", "091"]);
    assert_eq!(sales.json["Accounts"][0]["Name"], "Sales");
    assert_eq!(rates.json["TaxRates"][0]["Name"], "15% GST on Income");
    assert_eq!(rates.json["TaxRates"][0]["EffectiveRate"], 15.0);
}

/// What Xero refuses of an item (spec `Item`: `Code` "max length = 30", `Name` "max length =
/// 50"; a code is unique, compared case-insensitively), and the look-up by code the processor's
/// items mode makes (README "Inventory: items mode").
#[tokio::test]
async fn items_refuse_long_codes_and_names_and_a_code_taken_in_another_case() {
    let t = start();
    let item = |code: &str, name: &str| json!({"Items": [{"Code": code, "Name": name}]});

    let long_code = t.put("/Items", &item(&"C".repeat(31), "Mug")).await;
    let long_name = t.put("/Items", &item("MUG-1", &"N".repeat(51))).await;
    let other_case = t.put("/Items", &item("sku-1", "Again")).await;
    let at_limits = t
        .put("/Items", &item(&"C".repeat(30), &"N".repeat(50)))
        .await;
    let found = t.get("/Items?where=Code%3D%3D%22sku-1%22").await;

    assert_eq!(
        long_code.first_error(),
        Some("The Item Code must not exceed 30 characters.")
    );
    assert_eq!(
        long_name.first_error(),
        Some("The Item Name must not exceed 50 characters.")
    );
    assert_eq!(
        other_case.first_error(),
        Some("Item code 'sku-1' already exists.")
    );
    assert_eq!(at_limits.first_error(), None);
    assert_eq!(found.json["Items"][0]["Code"], "SKU-1");
}
