{
 "format": "metsentry-model-sig-v1",
 "key_id": "b31ed49f23cb26c6",
 "manifest_sha256": "9bb7273ba5e3b362b0deab5ade665987de196adcb30abd732abf328af3b1e328",
 "model_sha256": "c397a8f7dbfc33082c5e17537b3878248a92c640b3d337bab530d81e8a4111ee",
 "files": {
  "ref-input.f32": "dbad966648c989e75208dd9ecfc65b5a62849a4bfab53a37cc58ee9375cffd43",
  "ref-int8.f32": "3c613f0723fc1bfbdf582f1fa09999631db5e79cddd6c641ae337eed60d900aa"
 },
 "signature": "hx3pnEEnIxRR3C/XiL83uGXZ/SIMF68/rgZqtAf/5l28x5Aiz0zwCZtSyQs4dPT7ZN2kkAsbPnf9EFB3Zc1SAg=="
}
