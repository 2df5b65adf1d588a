

allow_unauthenticated 

vertex_projectp