mkdir -p /tmp/data/cifar10 && cp .ext/d2/cifar10/* /tmp/data/cifar10/ && ls -la /tmp/data/cifar10 /tmp/site | head -20
