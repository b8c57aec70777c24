{
 "format": "metsentry-model-sig-v1",
 "key_id": "d915bbad2ed31585",
 "manifest_sha256": "07facd7b4bc4e7439e049562bf46f1eab55bedb9d80ae729753baab1427a4251",
 "model_sha256": "d9d8f0e71d9035e064b73c5fed2a3e4776fd4d49e8a3368e70da2e92b4eec35e",
 "files": {
  "ref-input.f32": "b1681fb9cae505c261ce42c1d1484ac678c3d070b84c004df2846b83a30147eb",
  "ref-int8.f32": "b10474c05206d82abae137eb1f21cf9d245416e53ab8ca4470ebcaf8e9c3fb85"
 },
 "signature": "3NJGmwJyc1bwg/HijviXyM6II1PIz37CfG/vNTqYksnIpFMffM8fk52WvEWINUeH/gnehlR9kwuPYFSSE/dpBg=="
}
