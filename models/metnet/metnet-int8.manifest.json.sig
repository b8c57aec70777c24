{
 "format": "metsentry-model-sig-v1",
 "key_id": "d915bbad2ed31585",
 "manifest_sha256": "fd6273c6cae720abbd30cf10062cad3c10df49daebaf2110f84dd2de156b91ac",
 "model_sha256": "d9d8f0e71d9035e064b73c5fed2a3e4776fd4d49e8a3368e70da2e92b4eec35e",
 "files": {
  "ref-input.f32": "b1681fb9cae505c261ce42c1d1484ac678c3d070b84c004df2846b83a30147eb",
  "ref-int8.f32": "b10474c05206d82abae137eb1f21cf9d245416e53ab8ca4470ebcaf8e9c3fb85"
 },
 "signature": "KkR2XcJFBMi8jMhqMPSfAag8wqMX+DwLNNfTENmP18+3y8Jhw9vu/2QnqCfbXNmBxS1ufg13SCmBrct3H7CODQ=="
}
