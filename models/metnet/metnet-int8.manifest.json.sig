{
 "format": "metsentry-model-sig-v1",
 "key_id": "d915bbad2ed31585",
 "manifest_sha256": "d9588f0c4737a0a24b08af0312a68325878d50500d2a3ce02ba00033e5753e77",
 "model_sha256": "c397a8f7dbfc33082c5e17537b3878248a92c640b3d337bab530d81e8a4111ee",
 "files": {
  "ref-input.f32": "dbad966648c989e75208dd9ecfc65b5a62849a4bfab53a37cc58ee9375cffd43",
  "ref-int8.f32": "3c613f0723fc1bfbdf582f1fa09999631db5e79cddd6c641ae337eed60d900aa"
 },
 "signature": "uW235+lGiyz2bxz+601Uv6V8D32mRpFP14mztgCLQG5XK774cYSUd+5eIDrLa8SE6N1XBVAYO969vfQJBqNIBw=="
}
