/**
 * The ECS test mesh shared by test/integration/ecs.test.ts and geoip-lazy.test.ts: the local
 * cluster is in Mumbai and serves shop/cart; `london` and `virginia` (both with a location, so no
 * gateway is geolocated) export shop/web. 81.2.69.0/24 is a British network in geoip-lite 1.4.10.
 */
export const BRITAIN = '81.2.69.0/24';
export const LONDON_GW = '192.0.2.10';
export const VIRGINIA_GW = '198.51.100.20';
export const LOCAL_CART = '10.96.5.5';
export const MUMBAI = { lat: 19.08, lon: 72.88 };

/** shop/web as a remote catalog lists it. */
export const web = '{namespace: shop, name: web, ready: true, ports: [{name: http, port: 8080}]}';

/** The catalog file: shop/cart local, shop/web exported by london and virginia. */
export const twoRemotesCatalog = `services:
  - {namespace: shop, name: cart, clusterIPs: [${LOCAL_CART}], readyEndpoints: 1, ports: [{name: http, port: 8080}]}
remotes:
  - cluster: london
    region: eu-west-2
    location: {lat: 51.5, lon: -0.12}
    gateways: [{address: ${LONDON_GW}, port: 15443}]
    services: [${web}]
  - cluster: virginia
    region: us-east-1
    location: {lat: 39.0, lon: -77.5}
    gateways: [{address: ${VIRGINIA_GW}, port: 15443}]
    services: [${web}]
`;
