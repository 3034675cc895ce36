#!/bin/sh
# Entry point with the real images' interface: /init.sh <args of the component>.
exec python3 "/standin/${OW_STANDIN_COMPONENT:?}.py" "$@"
