// Pure cluster logic: SA authority, sequence blocks, lifesize, membership, cluster wire format.
