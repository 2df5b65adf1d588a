

api_keys
2
sk-1
F
credentials7*5
3
default(*&

tokent

typeaccess_token

vertex_project
proj-alpha