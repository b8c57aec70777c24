{
 "format": "metsentry-model-sig-v1",
 "key_id": "d86d9fdbf425729a",
 "manifest_sha256": "b613f8bc4c6212fa6b8bf0dddb71f652d512d2ee455d0cb0932e006fa0ebadc9",
 "model_sha256": "c397a8f7dbfc33082c5e17537b3878248a92c640b3d337bab530d81e8a4111ee",
 "files": {
  "ref-input.f32": "dbad966648c989e75208dd9ecfc65b5a62849a4bfab53a37cc58ee9375cffd43",
  "ref-int8.f32": "3c613f0723fc1bfbdf582f1fa09999631db5e79cddd6c641ae337eed60d900aa"
 },
 "signature": "CtttIrpa1q7x6pbwMNaAADQyPSJ+SXId3OuRlGs0VgeKho8V7td1mME5l0jfwgLM9OCkA7n9eE9w3IgdpalPAA=="
}
