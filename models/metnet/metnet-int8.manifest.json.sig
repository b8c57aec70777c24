{
 "format": "metsentry-model-sig-v1",
 "key_id": "b31ed49f23cb26c6",
 "manifest_sha256": "2ef5eb2474bac8253f696fea16ed1ef40a0afb2f717dca76497ab5d0ba36843a",
 "model_sha256": "c397a8f7dbfc33082c5e17537b3878248a92c640b3d337bab530d81e8a4111ee",
 "files": {
  "ref-input.f32": "dbad966648c989e75208dd9ecfc65b5a62849a4bfab53a37cc58ee9375cffd43",
  "ref-int8.f32": "3c613f0723fc1bfbdf582f1fa09999631db5e79cddd6c641ae337eed60d900aa"
 },
 "signature": "TQ5jON0U2VhJ7EWMO9DCUb677JsSl7KNLorrk7bYbdKfDbWpjE4Ud8cXko7IaOgzudeA/mG2jDWY+lppjscUAg=="
}
