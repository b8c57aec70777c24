{
 "format": "metsentry-model-sig-v1",
 "key_id": "9d748fe480d1e3f6",
 "manifest_sha256": "7512e807106a6125f0bcebb5d012eed69786a8a26d9ce8f89b0bc4572814376c",
 "model_sha256": "c397a8f7dbfc33082c5e17537b3878248a92c640b3d337bab530d81e8a4111ee",
 "files": {
  "ref-input.f32": "dbad966648c989e75208dd9ecfc65b5a62849a4bfab53a37cc58ee9375cffd43",
  "ref-int8.f32": "3c613f0723fc1bfbdf582f1fa09999631db5e79cddd6c641ae337eed60d900aa"
 },
 "signature": "tyQJYkuE1BvQLR91BGoXydjOwaomVPt29yJLrTYcscxWPhFYoISCEfgmVoqI980r29muB85712BU61SwreYKDw=="
}
