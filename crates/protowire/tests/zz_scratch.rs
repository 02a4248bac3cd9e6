#[test]
fn dump() {
    for name in ["configmap", "secret", "deployment", "service", "rolebinding", "cronjob", "selfsubjectaccessreview"] {
        let body = std::fs::read(format!("tests/fixtures/{name}.pb")).unwrap();
        let v = protowire::decode(&body).unwrap();
        println!("{name}: {}", serde_json::to_string(&v).unwrap());
        let again = protowire::encode(&v).unwrap();
        assert_eq!(protowire::decode(&again).unwrap(), v);
    }
}
