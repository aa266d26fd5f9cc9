"""The test account, tunnel and router, shared by every test layer."""

USERNAME = "alice"
UPDATE_KEY = "s3cr3t-Upd4te-K3y"
TUNNEL_ID = "123456"
ROUTER_UDN = "uuid:3d3cec3a-8cf0-11e0-98ee-001a6bd2d07b"
WAN_IP = "84.17.0.10"
# Two dynamic records of the account's dns.he.net zone, each with its own key.
RECORD_NAME = "home.example.org"
RECORD_KEY = "dyn-K3y-home"
OTHER_RECORD_NAME = "vpn.example.org"
OTHER_RECORD_KEY = "dyn-K3y-vpn"
