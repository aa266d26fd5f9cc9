"""The protocols, without Home Assistant: router (UPnP IGD), HE's API, the sending rules.

The router is read over SOAP and followed over GENA; HE is told over `nic/update` and asked over
`tunnelInfo.php`; the rules say what may be sent to HE and when. Nothing here imports
`homeassistant` (tests/protocol/test_layering.py checks it): it is what a library on PyPI would
hold, kept inside the integration.
"""
