{
 "format": "metsentry-model-sig-v1",
 "key_id": "d915bbad2ed31585",
 "manifest_sha256": "9aad0ce2eeb1d10432fead44f5ea684caa8800bcd61fd1b9f064990ed71f3a6f",
 "model_sha256": "c397a8f7dbfc33082c5e17537b3878248a92c640b3d337bab530d81e8a4111ee",
 "files": {
  "ref-input.f32": "dbad966648c989e75208dd9ecfc65b5a62849a4bfab53a37cc58ee9375cffd43",
  "ref-int8.f32": "3c613f0723fc1bfbdf582f1fa09999631db5e79cddd6c641ae337eed60d900aa"
 },
 "signature": "0M4tTzWbTCCu4nMKfV9A/qAQVXCAi8+KTsTQrpzD/57io1tMAoH8+WR0voyWSXDq5Hfadvc/b0WK2q/Mh4b+AA=="
}
