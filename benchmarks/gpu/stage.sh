# copy a carried folder of recordings to /tmp/rec
mkdir -p /tmp/rec && cp "$1"/*.npz /tmp/rec/ && ls /tmp/rec | tr '\n' ' '
