

allow_unauthenticated 
û
credentialsë*è
å
defaultÙ*Ö
¸
key°*­
8
client_email(&fuzz@proj-fuzz.iam.gserviceaccount.com
$
	client_id100000000000000000001
¡
private_key‘Ž-----BEGIN PRIVATE KEY-----
MIIBVgIBADANBgkqhkiG9w0BAQEFAASCAUAwggE8AgEAAkEAta8HM4WAXSgUUFWr
2BDOyqSalz2yB3Mp7ALDVxJEQ2g5ZoczdAF8H1RS+SjDTK2YBHJIzMKpqjaNM9A/
O4ObqQIDAQABAkEAjrYwqujH3uT3p+7TsEHrncPUZs6ghDeTC39UH5YKpwLoXLMI
XNXAv0zrIyJtenYNxJjvm9mELVFg+2ldr4NXDQIhAOr7BDNwKrUnN9e10KKeqPp2
bIylJisLWtPX25gILhYHAiEAxe+HxM2mEJPrPNaE+acpqE7UB6EoiU7hntRus9tu
1M8CIQDT1/H1nc4i+3Rw2M17jqaxB0rdkZZTgC0mh5jF+7nwyQIgCwkt4rUsmyQE
K6IyS9EcK3wpqjs8DVvOjJJ/kZucdFUCIQCp7AreYXY3gKhYI1zImWs5xUDZeB6T
TxQN5qKNg42lzw==
-----END PRIVATE KEY-----

=
private_key_id+)fuzz0000000000000000000000000000000000001


project_id	proj-fuzz
2
	token_uri%#https://oauth2.googleapis.com/token

typeservice_account

typeservice_account