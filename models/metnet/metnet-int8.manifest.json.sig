{
 "format": "metsentry-model-sig-v1",
 "key_id": "900679c4ca9b59a7",
 "manifest_sha256": "f89c8852c4d7172496f9444247cc83cc27f336fef492352a8f0f502a3f3b0290",
 "model_sha256": "c397a8f7dbfc33082c5e17537b3878248a92c640b3d337bab530d81e8a4111ee",
 "files": {
  "ref-input.f32": "dbad966648c989e75208dd9ecfc65b5a62849a4bfab53a37cc58ee9375cffd43",
  "ref-int8.f32": "3c613f0723fc1bfbdf582f1fa09999631db5e79cddd6c641ae337eed60d900aa"
 },
 "signature": "i1HTNqQu5eyub/HQ/z7y5Bib4vLvbenoh+HU4d1g60hgMkqDDSh8860becGElowjisvXbjXlQqgRxuLKeL9HDA=="
}
