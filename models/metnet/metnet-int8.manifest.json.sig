{
 "format": "metsentry-model-sig-v1",
 "key_id": "d915bbad2ed31585",
 "manifest_sha256": "f868b48d6b843aaa2993fd4a3da09e856a8c24ad857663b98a90b3d12f9088d7",
 "model_sha256": "c397a8f7dbfc33082c5e17537b3878248a92c640b3d337bab530d81e8a4111ee",
 "files": {
  "ref-input.f32": "dbad966648c989e75208dd9ecfc65b5a62849a4bfab53a37cc58ee9375cffd43",
  "ref-int8.f32": "3c613f0723fc1bfbdf582f1fa09999631db5e79cddd6c641ae337eed60d900aa"
 },
 "signature": "ijJwEHGHpqXWq/rUb4gcalcU1wGk2+cWID+iTm779btw0+ZYJPLyHZfCHk06r2MNptEzMFD4mVwZk59b7qhFBA=="
}
