// Starts the locally served Swagger UI on this server's OpenAPI document (no CDN).
window.ui = window.SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null, // the default validator lives on another host
});
