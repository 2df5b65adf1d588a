

api_keys2
k
‚
credentialsò*ï
ì
defaultà*Ý
¿
key·´{"type": "service_account", "project_id": "proj-fuzz", "private_key_id": "fuzz0000000000000000000000000000000000001", "private_key": "-----BEGIN PRIVATE KEY-----\nMIIBVgIBADANBgkqhkiG9w0BAQEFAASCAUAwggE8AgEAAkEAta8HM4WAXSgUUFWr\n2BDOyqSalz2yB3Mp7ALDVxJEQ2g5ZoczdAF8H1RS+SjDTK2YBHJIzMKpqjaNM9A/\nO4ObqQIDAQABAkEAjrYwqujH3uT3p+7TsEHrncPUZs6ghDeTC39UH5YKpwLoXLMI\nXNXAv0zrIyJtenYNxJjvm9mELVFg+2ldr4NXDQIhAOr7BDNwKrUnN9e10KKeqPp2\nbIylJisLWtPX25gILhYHAiEAxe+HxM2mEJPrPNaE+acpqE7UB6EoiU7hntRus9tu\n1M8CIQDT1/H1nc4i+3Rw2M17jqaxB0rdkZZTgC0mh5jF+7nwyQIgCwkt4rUsmyQE\nK6IyS9EcK3wpqjs8DVvOjJJ/kZucdFUCIQCp7AreYXY3gKhYI1zImWs5xUDZeB6T\nTxQN5qKNg42lzw==\n-----END PRIVATE KEY-----\n", "client_email": "fuzz@proj-fuzz.iam.gserviceaccount.com", "client_id": "100000000000000000001", "token_uri": "https://oauth2.googleapis.com/token"}

typeservice_account

vertex_projectp