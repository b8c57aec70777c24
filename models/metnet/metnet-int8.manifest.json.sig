{
 "format": "metsentry-model-sig-v1",
 "key_id": "f67d9cab91bfb629",
 "manifest_sha256": "b0b0fb1dfb0906b843997ef2d2092f98dc7b4b041c3261f1695891f5c1dc3219",
 "model_sha256": "c397a8f7dbfc33082c5e17537b3878248a92c640b3d337bab530d81e8a4111ee",
 "files": {
  "ref-input.f32": "dbad966648c989e75208dd9ecfc65b5a62849a4bfab53a37cc58ee9375cffd43",
  "ref-int8.f32": "3c613f0723fc1bfbdf582f1fa09999631db5e79cddd6c641ae337eed60d900aa"
 },
 "signature": "jdf2Qg1cARbWq0szlMsRwxDAdVnZ2HWmFKJ6mF6SV3PGX5Xupk9kbd5qaAFpiEf/SGkRL/0VGK2NE3ycPLbYBA=="
}
